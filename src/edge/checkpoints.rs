//! R2 adapter: checkpoint objects, one per stack version, under the immutable stack id so renames move nothing
//! (`crate::engine::checkpoint_key`). Objects are written before D1 points at them, so D1 never names a missing one.

use super::backends::{store_error, Backends};
use crate::engine::store::{ObjectStore, StoreResult};
use worker::{Bucket, Env, Result};

pub fn bucket(env: &Env) -> Result<Bucket> {
    env.bucket("CHECKPOINTS")
}

pub async fn get(bucket: &Bucket, key: &str) -> Result<Option<Vec<u8>>> {
    match bucket.get(key).execute().await? {
        Some(obj) => match obj.body() {
            Some(body) => Ok(Some(body.bytes().await?)),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

impl ObjectStore for Backends {
    async fn get_object(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let bucket = bucket(&self.env).map_err(|e| store_error("r2", e))?;
        get(&bucket, key).await.map_err(|e| store_error("r2 get", e))
    }

    async fn put_object(&self, key: &str, bytes: Vec<u8>) -> StoreResult<()> {
        let bucket = bucket(&self.env).map_err(|e| store_error("r2", e))?;
        bucket.put(key, bytes).execute().await.map_err(|e| store_error("r2 put", e))?;
        Ok(())
    }

    async fn delete_objects(&self, prefix: &str) -> StoreResult<()> {
        let bucket = bucket(&self.env).map_err(|e| store_error("r2", e))?;
        loop {
            let listed = bucket.list().prefix(prefix.to_owned()).execute().await.map_err(|e| store_error("r2 list", e))?;
            let keys: Vec<String> = listed.objects().iter().map(|o| o.key()).collect();
            if keys.is_empty() {
                return Ok(());
            }
            bucket.delete_multiple(keys).await.map_err(|e| store_error("r2 delete", e))?;
            if !listed.truncated() {
                return Ok(());
            }
        }
    }
}
