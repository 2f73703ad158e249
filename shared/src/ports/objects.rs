//! The few bucket operations the functions need: look at an object, delete it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ownership::ObjectInfo;

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// `None` when there is no such object. `first_bytes` is left empty.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError>;
    /// The first `n` bytes (fewer if the object is shorter); `None` when there is no such
    /// object.
    async fn first_bytes(&self, key: &str, n: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Objects in memory, for tests: an object's `first_bytes` are what a ranged GET returns.
#[derive(Default)]
pub struct MemoryObjects {
    objects: Mutex<BTreeMap<String, ObjectInfo>>,
}

impl MemoryObjects {
    pub fn put(&self, key: &str, info: ObjectInfo) {
        self.lock().insert(key.to_owned(), info);
    }

    pub fn contains(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ObjectInfo>> {
        // A poisoned lock only means another test thread panicked; the map is still usable.
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl ObjectStore for MemoryObjects {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        Ok(self.lock().get(key).cloned().map(|info| ObjectInfo {
            first_bytes: None,
            ..info
        }))
    }

    async fn first_bytes(&self, key: &str, n: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let take = usize::try_from(n).unwrap_or(usize::MAX);
        Ok(self.lock().get(key).map(|info| {
            let bytes = info.first_bytes.clone().unwrap_or_default();
            bytes.into_iter().take(take).collect()
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock().remove(key);
        Ok(())
    }
}
