// Small charts drawn from numbers: an SVG line from a list, bars from named values.
const SVG = "http://www.w3.org/2000/svg";

export function sparkline(values, { width = 120, height = 32, label = "" } = {}) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  if (!values || values.length < 2) return svg;
  const low = Math.min(...values);
  const high = Math.max(...values);
  const span = high - low || 1;
  const step = width / (values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - ((v - low) / span) * (height - 4)).toFixed(1)}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("class", values[values.length - 1] >= values[0] ? "spark up" : "spark down");
  svg.append(line);
  return svg;
}

// Horizontal bars from zero, one row per item ({ name, value, text, className }), so that
// lengths compare honestly. Drawn in HTML, not SVG, so the labels keep the page's type size
// on a phone and on a wide screen alike.
export function bars(items, { label = "" } = {}) {
  const chart = document.createElement("div");
  chart.className = "bars";
  chart.setAttribute("role", "img");
  chart.setAttribute("aria-label", label);
  const high = Math.max(...items.map((item) => item.value), 0) || 1;
  for (const item of items) {
    const row = document.createElement("div");
    row.className = "bar-row";
    const name = document.createElement("span");
    name.className = "bar-name";
    name.textContent = item.name;
    const track = document.createElement("span");
    track.className = "bar-track";
    const bar = document.createElement("span");
    bar.className = `bar ${item.className || ""}`;
    // Set through the CSSOM, which the page's style policy allows (a style attribute it does not).
    bar.style.width = `${((Math.max(item.value, 0) / high) * 100).toFixed(2)}%`;
    track.append(bar);
    const value = document.createElement("span");
    value.className = "bar-value";
    value.textContent = item.text;
    row.append(name, track, value);
    chart.append(row);
  }
  return chart;
}
