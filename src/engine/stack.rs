//! Stack changes that must not overlap a running update, made under the engine's lock: `pulumi stack import`
//! (one call: a stored object and one ledger batch), rename and delete.

use super::store::{checkpoint_key, stack_prefix, Checkpoint, Import, Stores};
use super::Engine;
use crate::checkpoint::delta::sha256_hex;
use crate::checkpoint::upload::{self, UploadKind};
use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub update_id: String,
    pub stack_id: i64,
    pub requested_by: String,
}

impl Engine {
    /// Makes `body` (an untyped deployment) the stack's next version, recorded as a finished `import` update. The
    /// object is written first; then one ledger batch adds the update, its checkpoint and the stack's version, so
    /// a failure leaves neither an orphaned update nor a failed one in history.
    ///
    /// # Errors
    /// 409 while an update runs; 400 for a body that is not a deployment; 5xx from storage.
    pub async fn import(&self, s: &impl Stores, req: ImportRequest, body: Vec<u8>, now: i64) -> Result<i64, ApiError> {
        let _serial = self.lock().await;
        let mut st = self.state(s).await?;
        st.stack_id = Some(req.stack_id);
        self.settle_expired(s, &mut st, now).await?;
        if st.live(now).is_some() {
            return Err(super::busy());
        }
        let upload::Body::Text(text) = upload::parse(body, UploadKind::Import)?.body else {
            return Err(ApiError::internal("an import is a whole text"));
        };
        let resources = std::str::from_utf8(&text).ok().and_then(|t| crate::api::updates::resource_count(t).ok());
        let current = s.stack_version(req.stack_id).await?.ok_or_else(|| ApiError::not_found("stack not found"))?;
        let version = current + 1;
        let checkpoint = Checkpoint {
            version,
            key: checkpoint_key(req.stack_id, version),
            sha256: sha256_hex(&text),
            size: text.len() as u64,
            resources,
        };
        s.put_object(&checkpoint.key, text).await?;
        let import = Import { update_id: req.update_id, requested_by: req.requested_by, checkpoint };
        s.record_import(req.stack_id, &import).await?;
        Ok(version)
    }

    /// Renames the stack unless an update runs (its CLI would lose the stack under it).
    ///
    /// # Errors
    /// 409 while an update runs or when the name is taken; 5xx from storage.
    pub async fn rename(&self, s: &impl Stores, stack_id: i64, to: (&str, &str, &str), now: i64) -> Result<(), ApiError> {
        let _serial = self.lock().await;
        let mut st = self.state(s).await?;
        st.stack_id = Some(stack_id);
        self.settle_expired(s, &mut st, now).await?;
        if st.live(now).is_some() {
            return Err(ApiError::conflict("the stack has an update in progress; rename it when the update has ended"));
        }
        let (org, project, name) = to;
        if !s.rename_stack(stack_id, org, project, name).await? {
            return Err(ApiError::conflict(format!("stack '{org}/{project}/{name}' already exists")));
        }
        Ok(())
    }

    /// Deletes the stack. A running update is refused unless `force`, which ends it (its state is not built: the
    /// stack goes). The lease is released first, then the ledger rows go (after which nothing points at the
    /// objects), then the objects; if removing those fails, the alarm finishes it.
    ///
    /// # Errors
    /// 409 while an update runs without `force`; 5xx from storage.
    pub async fn delete_stack(&self, s: &impl Stores, stack_id: i64, force: bool, now: i64) -> Result<(), ApiError> {
        let _serial = self.lock().await;
        let mut st = self.state(s).await?;
        st.stack_id = Some(stack_id);
        self.settle_expired(s, &mut st, now).await?;
        if let Some(running) = st.live(now).cloned() {
            if !force {
                return Err(ApiError::conflict(
                    "the stack has an update in progress; cancel it first or delete with --force",
                ));
            }
            s.finish_update(stack_id, &running.update_id, "cancelled", None).await?;
            st.end("cancelled");
        }
        st.purge = true;
        st.kept_journal = None;
        self.save(s, &st, Some(now + super::RETRY_FINISH_MS)).await?;
        s.clear(None)?;
        self.memory.borrow_mut().text = None;
        s.delete_stack(stack_id).await?;
        // The stack is gone once its rows are: objects nothing points at are removed now, or by the alarm set
        // above if this fails, and the caller is told it is deleted either way.
        if let Err(e) = s.delete_objects(&stack_prefix(stack_id)).await {
            crate::log::error(&format!("stack {stack_id} deleted; its objects go on the next alarm: {e}"));
            return Ok(());
        }
        st.purge = false;
        self.save(s, &st, None).await?;
        Ok(())
    }
}
