// The path prefix this market is served under ("" at the root, "/class-7b" behind a proxy).
// Every URL of this site a module names goes through ``url``; the page renders the prefix in
// <meta name="root">, read once here.

export const root = document.querySelector('meta[name="root"]')?.content ?? "";

// ``/login`` as the browser must ask for it: under the prefix.
export function url(path) {
  return root + path;
}
