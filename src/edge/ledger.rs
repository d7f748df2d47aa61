//! D1 as the update engine's ledger: each method is one statement or one atomic batch of `db.rs`.

use super::backends::{store_error, Backends};
use super::db;
use crate::engine::store::{Checkpoint, Import, Ledger, Started, StoreResult, UpdateStatus};
use worker::D1Database;

impl Backends {
    fn db(&self) -> StoreResult<D1Database> {
        self.env.d1("DB").map_err(|e| store_error("d1", e))
    }
}

fn d1(e: worker::Error) -> crate::engine::StoreError {
    store_error("d1", e)
}

impl Ledger for Backends {
    async fn start_update(&self, update_id: &str, stack_id: i64, bumps: bool, tags: Option<&str>) -> StoreResult<Started> {
        db::start_update(&self.db()?, update_id, stack_id, bumps, tags).await.map_err(d1)
    }

    async fn save_checkpoint(&self, stack_id: i64, update_id: &str, cp: &Checkpoint) -> StoreResult<()> {
        db::save_checkpoint(&self.db()?, stack_id, update_id, cp).await.map_err(d1)
    }

    async fn finish_update(&self, stack_id: i64, update_id: &str, status: &str, cp: Option<&Checkpoint>) -> StoreResult<()> {
        db::finish_update(&self.db()?, update_id, stack_id, status, cp).await.map_err(d1)
    }

    async fn update_status(&self, stack_id: i64, update_id: &str) -> StoreResult<Option<UpdateStatus>> {
        let row = db::get_update(&self.db()?, stack_id, update_id).await.map_err(d1)?;
        Ok(row.map(|u| UpdateStatus { status: u.status }))
    }

    async fn stack_version(&self, stack_id: i64) -> StoreResult<Option<i64>> {
        db::stack_version(&self.db()?, stack_id).await.map_err(d1)
    }

    async fn record_import(&self, stack_id: i64, import: &Import) -> StoreResult<()> {
        db::record_import(&self.db()?, stack_id, import).await.map_err(d1)
    }

    async fn rename_stack(&self, stack_id: i64, org: &str, project: &str, name: &str) -> StoreResult<bool> {
        db::rename_stack(&self.db()?, stack_id, org, project, name).await.map_err(d1)
    }

    async fn delete_stack(&self, stack_id: i64) -> StoreResult<()> {
        db::delete_stack(&self.db()?, stack_id).await.map_err(d1)
    }
}
