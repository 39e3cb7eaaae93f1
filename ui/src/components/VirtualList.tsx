import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";

/**
 * Renders only the rows in view (plus a few), so a list of 50,000 elements stays as light as one of
 * fifty. Rows have a fixed height.
 */
export function VirtualList({
  count,
  rowHeight,
  height,
  row,
  label,
  testid,
}: {
  count: number;
  rowHeight: number;
  height: number;
  row: (i: number) => ComponentChildren;
  label: string;
  testid?: string;
}) {
  const [top, setTop] = useState(0);
  const overscan = 8;
  const first = Math.max(0, Math.floor(top / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((top + height) / rowHeight) + overscan);
  const rows: ComponentChildren[] = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <div role="listitem" class="vrow" style={{ top: i * rowHeight, height: rowHeight }} key={i}>
        {row(i)}
      </div>,
    );
  }
  return (
    <div
      class="vlist"
      role="list"
      aria-label={label}
      data-testid={testid}
      style={{ height }}
      onScroll={(e) => setTop((e.currentTarget as HTMLElement).scrollTop)}
    >
      <div style={{ height: count * rowHeight, position: "relative" }}>{rows}</div>
    </div>
  );
}
