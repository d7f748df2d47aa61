//! R2 adapter: checkpoint objects, one per stack version, under the immutable stack id so renames move nothing.
//! Objects are written before D1 points at them, so D1 never names a missing object.

use worker::{Bucket, Env, Result};

pub fn bucket(env: &Env) -> Result<Bucket> {
    env.bucket("CHECKPOINTS")
}

pub fn key(stack_id: i64, version: i64) -> String {
    format!("stacks/{stack_id}/checkpoints/{version}.json")
}

pub async fn put(bucket: &Bucket, key: &str, text: Vec<u8>) -> Result<()> {
    bucket.put(key, text).execute().await?;
    Ok(())
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

/// Removes every checkpoint of a deleted stack.
pub async fn delete_stack(bucket: &Bucket, stack_id: i64) -> Result<()> {
    let prefix = format!("stacks/{stack_id}/");
    loop {
        let listed = bucket.list().prefix(prefix.clone()).execute().await?;
        let keys: Vec<String> = listed.objects().iter().map(|o| o.key()).collect();
        if keys.is_empty() {
            return Ok(());
        }
        bucket.delete_multiple(keys).await?;
        if !listed.truncated() {
            return Ok(());
        }
    }
}
