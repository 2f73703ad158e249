//! The few bucket operations the functions need: look at an object, delete it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ownership::ObjectInfo;

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// `None` when there is no such object.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError>;
    /// Deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Objects in memory, for tests.
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
        Ok(self.lock().get(key).cloned())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock().remove(key);
        Ok(())
    }
}
