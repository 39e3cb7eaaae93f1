//! Scan, the visualizer's graph and the selection estimate.

use std::sync::Arc;

use orgvault_core::app::EdgeKind;
use orgvault_core::catalog::Catalog;
use orgvault_core::jobs::JobKind;
use orgvault_core::scan::scan_job;
use orgvault_core::JobSpec;
use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::{AppHandle, State};

use crate::error::{ErrorCode, UiError, UiResult};
use crate::running::launch;
use crate::state::AppState;
use crate::views::{JobId, SelectionInput, Tally};

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct GraphItem {
    pub id: String,
    pub title: String,
    #[serde(rename = "type")]
    pub item_type: String,
    pub owner: String,
    pub size: i64,
    pub access: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct GraphUser {
    pub username: String,
    pub full_name: String,
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct GraphGroup {
    pub id: String,
    pub title: String,
    pub owner: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKindView {
    Owns,
    Member,
    Shared,
    References,
    Related,
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKindView,
}

/// The newest complete scan as nodes and edges (see `orgvault_core::app` for the invariants).
#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct Graph {
    pub scan_id: i64,
    pub items: Vec<GraphItem>,
    pub users: Vec<GraphUser>,
    pub groups: Vec<GraphGroup>,
    pub edges: Vec<GraphEdge>,
}

impl From<orgvault_core::app::Graph> for Graph {
    fn from(g: orgvault_core::app::Graph) -> Self {
        Self {
            scan_id: g.scan_id,
            items: g
                .items
                .into_iter()
                .map(|i| GraphItem {
                    id: i.id,
                    title: i.title,
                    item_type: i.item_type,
                    owner: i.owner,
                    size: i.size,
                    access: i.access,
                })
                .collect(),
            users: g
                .users
                .into_iter()
                .map(|u| GraphUser { username: u.username, full_name: u.full_name, role: u.role })
                .collect(),
            groups: g.groups.into_iter().map(|x| GraphGroup { id: x.id, title: x.title, owner: x.owner }).collect(),
            edges: g
                .edges
                .into_iter()
                .map(|e| GraphEdge {
                    from: e.from,
                    to: e.to,
                    kind: match e.kind {
                        EdgeKind::Owns => EdgeKindView::Owns,
                        EdgeKind::Member => EdgeKindView::Member,
                        EdgeKind::Shared => EdgeKindView::Shared,
                        EdgeKind::References => EdgeKindView::References,
                        EdgeKind::Related => EdgeKindView::Related,
                    },
                })
                .collect(),
        }
    }
}

#[tauri::command]
#[specta::specta]
pub async fn start_scan(app: AppHandle, state: State<'_, Arc<AppState>>, identity_id: String) -> UiResult<JobId> {
    let identity = state.identity(&identity_id).await?;
    let portal = crate::portal::session(&state, &identity).await?;
    let st = state.inner().clone();
    let spec = JobSpec::new(JobKind::Scan, Some(&identity_id), format!("Scan of {}", identity.spec.name));
    launch(&app, state.inner(), spec, move |job_id, progress, cancel| async move {
        scan_job(&st.db, &portal, job_id, &identity.id, progress.as_ref(), cancel, &st.clock).await?;
        Ok(())
    })
    .await
}

/// The scan the UI works on: the identity's newest complete one.
pub(crate) async fn latest_scan(state: &AppState, identity_id: &str) -> UiResult<i64> {
    Catalog::new(&state.db).latest_complete_scan(identity_id).await?.map(|s| s.id).ok_or_else(|| {
        UiError::new(ErrorCode::NoScan, "this organization has not been scanned yet; start a scan first")
    })
}

#[tauri::command]
#[specta::specta]
pub async fn load_graph(state: State<'_, Arc<AppState>>, identity_id: String) -> UiResult<Graph> {
    let graph = orgvault_core::app::load_graph(&state.db, &identity_id).await?.ok_or_else(|| {
        UiError::new(ErrorCode::NoScan, "this organization has not been scanned yet; start a scan first")
    })?;
    Ok(graph.into())
}

#[tauri::command]
#[specta::specta]
pub async fn estimate_selection(
    state: State<'_, Arc<AppState>>,
    identity_id: String,
    selection: SelectionInput,
) -> UiResult<Tally> {
    let scan_id = latest_scan(&state, &identity_id).await?;
    let r = selection.to_selection().resolve(&Catalog::new(&state.db), scan_id).await?;
    Ok(Tally { items: r.tally.items, users: r.tally.users, groups: r.tally.groups, bytes: r.tally.estimated_bytes })
}
