import { useState } from "preact/hooks";
import type { Action, ConflictOn, PlanMode, PlannedItem, RestorePlan } from "../backend/backend";
import { Notice } from "../components/common";
import { VirtualList } from "../components/VirtualList";
import { formatBytes } from "../state/selection";

const ACTION_WORDS: Record<Action["kind"], string> = { create: "Create", update: "Update", skip: "Skip", match: "Use existing" };
const METHOD_WORDS: Record<PlannedItem["method"], string> = {
  item: "added as an item",
  publish: "published from the backed-up package",
  create_service: "service created, then layers, features and attachments",
  publish_definition: "published from its service definition (.sd): the service as it was published then",
  publish_package: "published again from its tile or scene layer package",
};
/** The choice of a hosted feature service's method, in the plan's words. */
const METHOD_CHOICE: Record<PlannedItem["method"], string> = {
  item: "As an item",
  publish: "Publish the backed-up data (File Geodatabase or replica)",
  create_service: "Create the service from its definition, then its features",
  publish_definition: "Publish its service definition (.sd), as published then",
  publish_package: "Publish the layer again from its package",
};
/** What the target item shares with the restored one: "the target has this …". */
const CONFLICT_WORDS: Record<ConflictOn, string> = { title: "title", service_name: "service name", marker: "restore mark" };
const MODE_WORDS: Record<PlanMode, string> = {
  migrate: "a migration into another organization: everything is created, ids and URLs are rewritten",
  in_place: "in place: items that still exist are brought back to the snapshot, deleted ones are created again",
  copies: "copies beside the existing items",
};

export function actionText(a: Action): string {
  switch (a.kind) {
    case "skip":
      return `Skip: ${a.reason}`;
    case "update":
      return `Update ${a.target_id}`;
    case "match":
      return `Use existing ${a.target_id}`;
    default:
      return "Create";
  }
}

/** One sentence with the plan's counts, the element the e2e test and a reader check first. */
export function planSummary(p: RestorePlan): string {
  const c = p.counts;
  return (
    `${p.items.length} items, ${p.users.length} users and ${p.groups.length} groups: ` +
    `${c.create} to create, ${c.update} to update, ${c.skip} to skip, ${c.matched} matched, ${c.conflicts} conflicts.`
  );
}

/**
 * The plan as the engine computed it: counts, what needs attention (missing owners and groups, the
 * 512-group limit, what is not offered, conflicts), users and groups, every item with its action,
 * and a chosen item's id and URL rewrites. Read-only: nothing has been written yet.
 */
export function PlanView({
  plan,
  stale,
  chosen: chosenMethods = {},
  onMethod,
}: {
  plan: RestorePlan;
  stale: boolean;
  /** Ways chosen on screen since this plan was made (the plan shows as stale until made again). */
  chosen?: Record<string, PlannedItem["method"]>;
  /** The admin chose how a hosted service is re-created; "Show the plan" makes the plan again. */
  onMethod?: (sourceId: string, method: PlannedItem["method"]) => void;
}) {
  const [chosen, setChosen] = useState<string | null>(null);
  const conflicts = plan.items.filter((i) => i.conflict);
  const rewrites = plan.items.reduce((n, i) => n + i.rewrites.length, 0);
  const item = plan.items.find((i) => i.source_id === chosen) ?? null;
  return (
    <section class="panel plan" aria-label="Restore plan" data-testid="restore-plan-view">
      <h2>The plan</h2>
      {stale && <Notice testid="restore-plan-stale">The choices changed since this plan was made: show the plan again before applying it.</Notice>}
      <p
        data-testid="restore-plan-summary"
        data-items={plan.items.length}
        data-users={plan.users.length}
        data-groups={plan.groups.length}
        data-create={plan.counts.create}
        data-conflicts={plan.counts.conflicts}
      >
        <strong>{planSummary(plan)}</strong>
      </p>
      <p class="small">
        “{plan.snapshot_name}” into {plan.target_portal_url}: {MODE_WORDS[plan.mode]}. {plan.levels} dependency level
        {plan.levels === 1 ? "" : "s"}; uploads {formatBytes(plan.upload_bytes)}
        {plan.multipart_uploads > 0 ? ` (${plan.multipart_uploads} in parts, the largest ${formatBytes(plan.largest_upload)})` : ""}; {rewrites} id and URL
        rewrites in item data.
        {plan.resuming && " An earlier run of this restore stopped part-way: it resumes, nothing is made twice."}
      </p>
      {plan.missing_privileges.length > 0 && (
        <div class="notice warn" role="alert" data-testid="restore-plan-privileges">
          <strong>The account signed in to the target lacks what this restore needs; it cannot be applied:</strong>
          <ul class="small">
            {plan.missing_privileges.map((m) => (
              <li key={m.privilege}>
                <code>{m.privilege}</code>, for {m.needed_for}
              </li>
            ))}
          </ul>
          Sign the target identity in with a full administrator, or give its custom role these privileges.
        </div>
      )}
      <Attention plan={plan} />
      <ServiceMethods plan={plan} chosen={chosenMethods} onMethod={onMethod} />
      {conflicts.length > 0 && (
        <>
          <h3>Conflicts ({conflicts.length})</h3>
          <ul class="small" data-testid="restore-plan-conflicts">
            {conflicts.map((i) => (
              <li key={i.source_id}>
                “{i.title}”: the target has this {i.conflict ? CONFLICT_WORDS[i.conflict.on] : "title"} ({i.conflict?.value}) —{" "}
                {actionText(i.action)}
                {i.target_title !== i.title ? `, as “${i.target_title}”` : ""}
              </li>
            ))}
          </ul>
        </>
      )}
      <div class="grid2">
        <div>
          <h3>Users ({plan.users.length})</h3>
          <ul class="small plan-list">
            {plan.users.map((u) => (
              <li key={u.source_username}>
                <span class={`badge action-${u.action.kind}`}>{ACTION_WORDS[u.action.kind]}</span> {u.source_username}
                {u.target_username !== u.source_username && ` → ${u.target_username}`} <span class="muted">({u.role})</span>
              </li>
            ))}
          </ul>
        </div>
        <div>
          <h3>Groups ({plan.groups.length})</h3>
          <ul class="small plan-list">
            {plan.groups.map((g) => (
              <li key={g.source_id}>
                <span class={`badge action-${g.action.kind}`}>{ACTION_WORDS[g.action.kind]}</span> {g.title}
                {g.target_title !== g.title && ` → ${g.target_title}`} <span class="muted">(owner {g.owner}, {g.members.length} members)</span>
              </li>
            ))}
          </ul>
        </div>
      </div>
      <h3>Items ({plan.items.length}), in the order they are made</h3>
      <VirtualList
        count={plan.items.length}
        rowHeight={34}
        height={Math.min(340, Math.max(34, plan.items.length * 34))}
        label="Planned items"
        testid="restore-plan-items"
        row={(k) => {
          const i = plan.items[k];
          return (
            <button
              type="button"
              class={`plan-row ${i.conflict ? "conflict" : ""}`}
              aria-pressed={chosen === i.source_id}
              onClick={() => setChosen(chosen === i.source_id ? null : i.source_id)}
            >
              <span class={`badge action-${i.action.kind}`}>{ACTION_WORDS[i.action.kind]}</span>
              <span class="w10 ellipsis small muted">{i.item_type}</span>
              <span class="ellipsis grow">
                {i.title}
                {i.target_title !== i.title && ` → ${i.target_title}`}
              </span>
              <span class="small muted ellipsis w10">{i.target_owner}</span>
              {i.rewrites.length > 0 && <span class="small">{i.rewrites.length === 1 ? "1 rewrite" : `${i.rewrites.length} rewrites`}</span>}
            </button>
          );
        }}
      />
      {item && <ItemDetail item={item} />}
      {plan.url_rewrites.length > 0 && (
        <>
          <h3>URLs rewritten everywhere</h3>
          <ul class="small mono">
            {plan.url_rewrites.map(([from, to]) => (
              <li key={from}>
                {from} → {to}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** Each hosted feature service that can be re-created more than one way, with its way chosen. */
function ServiceMethods({
  plan,
  chosen,
  onMethod,
}: {
  plan: RestorePlan;
  chosen: Record<string, PlannedItem["method"]>;
  onMethod?: (sourceId: string, method: PlannedItem["method"]) => void;
}) {
  const services = plan.items.filter((i) => i.methods.length > 1);
  if (services.length === 0) return null;
  return (
    <>
      <h3>Hosted services and layers ({services.length})</h3>
      <ul class="small" data-testid="restore-plan-methods">
        {services.map((i) => (
          <li key={i.source_id} class="row">
            <span class="grow">{i.title}</span>
            <select
              aria-label={`How to re-create ${i.title}`}
              data-testid="restore-method"
              data-source={i.source_id}
              data-method={i.method}
              value={chosen[i.source_id] ?? i.method}
              disabled={!onMethod}
              onChange={(e) => onMethod?.(i.source_id, e.currentTarget.value as PlannedItem["method"])}
            >
              {i.methods.map((m) => (
                <option key={m} value={m}>
                  {METHOD_CHOICE[m]}
                </option>
              ))}
            </select>
          </li>
        ))}
      </ul>
    </>
  );
}

function Attention({ plan }: { plan: RestorePlan }) {
  const lines: string[] = [];
  for (const o of plan.missing_owners) lines.push(`${o} has no user in the target: their items go to the signed-in administrator.`);
  for (const g of plan.missing_groups) lines.push(`The mapped group “${g}” does not exist in the target: a new group is created instead.`);
  for (const g of plan.group_limit) lines.push(`${g.username} would be in ${g.groups} groups, above the limit of 512.`);
  for (const n of plan.not_offered) lines.push(`Not restored: ${n.kind} “${n.title || n.id}”: ${n.reason}.`);
  if (lines.length === 0) return null;
  return (
    <div class="notice" role="status" data-testid="restore-plan-attention">
      <strong>Needs your attention</strong>
      <ul class="small">
        {lines.map((l, k) => (
          <li key={k}>{l}</li>
        ))}
      </ul>
    </div>
  );
}

function ItemDetail({ item }: { item: PlannedItem }) {
  return (
    <section class="panel" aria-label={`Plan for ${item.title}`} data-testid="restore-plan-item">
      <h3>{item.title}</h3>
      <dl class="about small">
        <dt>Action</dt>
        <dd>{actionText(item.action)}</dd>
        <dt>How</dt>
        <dd>
          {METHOD_WORDS[item.method]}
          {item.service_name ? `, service name ${item.service_name}` : ""}
        </dd>
        <dt>Owner</dt>
        <dd>
          {item.source_owner}
          {item.target_owner !== item.source_owner && ` → ${item.target_owner}`}, folder {item.target_folder ?? "(root)"}
        </dd>
        <dt>Upload</dt>
        <dd>
          {formatBytes(item.upload_bytes)}
          {item.multipart ? " in parts" : ""}
        </dd>
        <dt>Level</dt>
        <dd>{item.level}</dd>
      </dl>
      {item.notes.length > 0 && (
        <ul class="small">
          {item.notes.map((n, k) => (
            <li key={k}>{n}</li>
          ))}
        </ul>
      )}
      {item.rewrites.length === 0 ? (
        <p class="small muted">No id or URL in its data changes.</p>
      ) : (
        <table class="table small mono">
          <thead>
            <tr>
              <th>Where</th>
              <th>From</th>
              <th>To</th>
            </tr>
          </thead>
          <tbody>
            {item.rewrites.map((r, k) => (
              <tr key={k}>
                <td>{r.pointer}</td>
                <td class="break">{r.from}</td>
                <td class="break">{r.to}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
