//! The Schedules screen: list, preview, save, switch on or off, remove and run now, each over
//! `orgvault_core::schedule`; and the counts of a backup schedule's selection for its
//! confirmation (`Selection::tally_in_latest_scan`).

use std::sync::Arc;

use orgvault_core::schedule::{
    preview, LocalZone, RecurrenceChoice, RecurrencePreview, Schedule, ScheduleOverview, ScheduleSpec, Schedules,
};
use orgvault_core::selection::Selection;
use orgvault_core::Clock;
use tauri::{AppHandle, State};

use crate::error::{ErrorCode, UiError, UiResult};
use crate::state::AppState;
use crate::views::Tally;

/// How many run times a preview shows.
const PREVIEW_RUNS: usize = 5;

fn schedules(state: &AppState) -> Schedules<'_> {
    Schedules::new(&state.db, &state.clock)
}

#[tauri::command]
#[specta::specta]
pub async fn list_schedules(state: State<'_, Arc<AppState>>) -> UiResult<Vec<ScheduleOverview>> {
    Ok(schedules(&state).overviews(&LocalZone).await?)
}

/// The next five run times of a preset or cron text, before saving.
#[tauri::command]
#[specta::specta]
pub async fn preview_recurrence(
    state: State<'_, Arc<AppState>>,
    recurrence: RecurrenceChoice,
) -> UiResult<RecurrencePreview> {
    Ok(preview(&recurrence, &LocalZone, state.clock.now_ms(), PREVIEW_RUNS)?)
}

/// Adds a schedule (`id` none) or replaces one's settings.
#[tauri::command]
#[specta::specta]
pub async fn save_schedule(state: State<'_, Arc<AppState>>, id: Option<i64>, spec: ScheduleSpec) -> UiResult<Schedule> {
    let saved = match id {
        None => schedules(&state).add(&spec).await?,
        Some(id) => schedules(&state).update(id, &spec).await?,
    };
    state.refresh_schedules_flag().await;
    Ok(saved)
}

#[tauri::command]
#[specta::specta]
pub async fn set_schedule_enabled(state: State<'_, Arc<AppState>>, id: i64, enabled: bool) -> UiResult<Schedule> {
    let saved = schedules(&state).set_enabled(id, enabled).await?;
    state.refresh_schedules_flag().await;
    Ok(saved)
}

/// Deletes a schedule; its jobs stay in the history.
#[tauri::command]
#[specta::specta]
pub async fn remove_schedule(state: State<'_, Arc<AppState>>, id: i64) -> UiResult<()> {
    schedules(&state).remove(id).await?;
    state.refresh_schedules_flag().await;
    Ok(())
}

/// Runs a schedule now, in the background, as the app's scheduler runs it (a job triggered by
/// the schedule, announced and e-mailed like a scheduled run). Answers once the run has begun.
#[tauri::command]
#[specta::specta]
pub async fn run_schedule_now(app: AppHandle, state: State<'_, Arc<AppState>>, id: i64) -> UiResult<()> {
    schedules(&state).get(id).await?;
    crate::scheduler::run_now_in_background(app, state.inner().clone(), id);
    Ok(())
}

/// What a backup of `selection` would take now, in the identity's newest scan: the counts a
/// scheduled backup's confirmation states.
#[tauri::command]
#[specta::specta]
pub async fn count_selection(
    state: State<'_, Arc<AppState>>,
    identity_id: String,
    selection: Selection,
) -> UiResult<Tally> {
    let t = selection.tally_in_latest_scan(&state.db, &identity_id).await?.ok_or_else(|| {
        UiError::new(ErrorCode::NoScan, "this organization has not been scanned yet; start a scan first")
    })?;
    Ok(Tally { items: t.items, users: t.users, groups: t.groups, bytes: t.estimated_bytes })
}
