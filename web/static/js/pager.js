// Previous/next paging for a list API with limit and offset.
export function pager(nav, size, load) {
  let offset = 0;
  const info = nav.querySelector(".page-info");
  const prev = nav.querySelector('[data-page="prev"]');
  const next = nav.querySelector('[data-page="next"]');
  async function show() {
    const { total, hasMore } = await load(offset, size);
    const page = Math.floor(offset / size) + 1;
    const pages = Math.max(1, Math.ceil((total ?? offset + size) / size));
    info.textContent = total === undefined ? `Page ${page}` : `Page ${page} of ${pages} (${total})`;
    prev.disabled = offset === 0;
    next.disabled = !hasMore;
  }
  prev.addEventListener("click", () => { offset = Math.max(0, offset - size); show(); });
  next.addEventListener("click", () => { offset += size; show(); });
  return { show, reset: () => { offset = 0; return show(); } };
}
