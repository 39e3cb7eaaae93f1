import type { Graph, GraphEdge, GraphGroup, GraphItem, GraphUser } from "./backend";

/** A small seeded PRNG (mulberry32) so a demo organization is the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const ITEM_TYPES = [
  "Feature Service",
  "Web Map",
  "Web Mapping Application",
  "Dashboard",
  "StoryMap",
  "Vector Tile Service",
  "Scene Service",
  "Map Image Layer",
  "CSV",
  "PDF",
  "Image",
];

const TOPICS = ["Parcels", "Hydrants", "Roads", "Zoning", "Trees", "Bike lanes", "Flood zones", "Schools", "Permits"];
const GIVEN = ["Ada", "Ben", "Chloe", "Dev", "Eva", "Farid", "Gina", "Hugo", "Ines", "Jon", "Kim", "Lea"];
const FAMILY = ["Moreau", "Okafor", "Nguyen", "Silva", "Khan", "Berg", "Rossi", "Ito", "Novak", "Diaz"];

/**
 * Builds a demo organization of about `elements` items, users and groups with every kind of tie.
 * Invariants: every item has an existing owner with an `owns` edge; item 0 is related to itself
 * (the Backup My Org seed bug the visualizer must survive); the same seed gives the same graph.
 */
export function generateGraph(elements: number, seed = 1, scanId = 1): Graph {
  const rnd = seededRandom(seed);
  const n = Math.max(3, Math.floor(elements));
  const userCount = Math.max(1, Math.round(n * 0.05));
  const groupCount = Math.max(1, Math.round(n * 0.02));
  const itemCount = Math.max(1, n - userCount - groupCount);

  const users: GraphUser[] = [];
  for (let u = 0; u < userCount; u++) {
    const given = GIVEN[u % GIVEN.length];
    const family = FAMILY[Math.floor(u / GIVEN.length) % FAMILY.length];
    users.push({
      username: u === 0 ? "admin_demo" : `${given.toLowerCase()}.${family.toLowerCase()}${u}`,
      full_name: u === 0 ? "Demo Administrator" : `${given} ${family}`,
      role: u === 0 ? "org_admin" : u % 5 === 0 ? "org_publisher" : "org_user",
    });
  }
  const groups: GraphGroup[] = [];
  for (let g = 0; g < groupCount; g++) {
    const owner = users[Math.floor(rnd() * userCount)].username;
    groups.push({ id: `g${g.toString(16).padStart(8, "0")}`, title: `${TOPICS[g % TOPICS.length]} team ${g}`, owner });
  }
  const edges: GraphEdge[] = [];
  const items: GraphItem[] = [];
  for (let i = 0; i < itemCount; i++) {
    // Owners follow a skewed distribution, as in real organizations a few publishers own most content.
    const owner = users[Math.floor(Math.pow(rnd(), 2) * userCount)].username;
    const type = ITEM_TYPES[Math.floor(rnd() * ITEM_TYPES.length)];
    const size = Math.floor(Math.pow(rnd(), 3) * 400_000_000) + 2_000;
    const access = rnd() < 0.2 ? "public" : rnd() < 0.5 ? "org" : "private";
    const id = `i${i.toString(16).padStart(10, "0")}`;
    items.push({ id, title: `${TOPICS[i % TOPICS.length]} ${type.toLowerCase()} ${i}`, type, owner, size, access });
    edges.push({ from: owner, to: id, kind: "owns" });
  }
  for (const u of users) {
    const memberships = 1 + Math.floor(rnd() * 3);
    for (let m = 0; m < memberships; m++) {
      edges.push({ from: u.username, to: groups[Math.floor(rnd() * groupCount)].id, kind: "member" });
    }
  }
  for (let i = 0; i < itemCount; i++) {
    if (rnd() < 0.3) edges.push({ from: items[i].id, to: groups[Math.floor(rnd() * groupCount)].id, kind: "shared" });
    if (rnd() < 0.1 && itemCount > 1) {
      const other = items[Math.floor(rnd() * itemCount)].id;
      edges.push({ from: items[i].id, to: other, kind: rnd() < 0.5 ? "references" : "related" });
    }
  }
  edges.push({ from: items[0].id, to: items[0].id, kind: "related" });
  return { scan_id: scanId, items, users, groups, edges, failed: [] };
}
