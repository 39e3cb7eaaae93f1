import type { Graph } from "../backend/backend";

/** A hand-made organization small enough to reason about in assertions. */
export function smallGraph(): Graph {
  return {
    scan_id: 1,
    items: [
      { id: "i1", title: "Parcels", type: "Feature Service", owner: "ana", size: 1000, access: "public" },
      { id: "i2", title: "Parcels map", type: "Web Map", owner: "ana", size: 50, access: "org" },
      { id: "i3", title: "Roads", type: "Feature Service", owner: "bob", size: 3000, access: "private" },
      { id: "i4", title: "Trees dashboard", type: "Dashboard", owner: "bob", size: 20, access: "org" },
    ],
    users: [
      { username: "ana", full_name: "Ana Silva", role: "org_admin" },
      { username: "bob", full_name: "Bob Berg", role: "org_user" },
      { username: "cy", full_name: "Cy Ito", role: "org_user" },
    ],
    groups: [
      { id: "g1", title: "Planning", owner: "ana" },
      { id: "g2", title: "Field crews", owner: "bob" },
    ],
    edges: [
      { from: "ana", to: "i1", kind: "owns" },
      { from: "ana", to: "i2", kind: "owns" },
      { from: "bob", to: "i3", kind: "owns" },
      { from: "bob", to: "i4", kind: "owns" },
      { from: "ana", to: "g1", kind: "member" },
      { from: "bob", to: "g1", kind: "member" },
      { from: "cy", to: "g2", kind: "member" },
      { from: "i1", to: "g1", kind: "shared" },
      { from: "i2", to: "i1", kind: "references" },
      { from: "i3", to: "i3", kind: "related" },
      { from: "ghost", to: "i1", kind: "owns" },
    ],
    failed: [],
  };
}
