//! Where checkpoints live: a local directory (plain path or `file://`), S3 (`s3://bucket/prefix`, endpoint,
//! region and credentials from the standard AWS environment variables; plain http allowed for local
//! endpoints) or process memory (`memory://`, for tests). Blocking calls over `object_store`'s async API on
//! a small private runtime; large objects go up as multipart uploads.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::path::Path as FsPath;

use crate::CheckpointError;

/// How to talk to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Objects larger than this go up as multipart uploads in parts of this size (S3's minimum is 5 MiB).
    pub part_size: usize,
    /// S3 settings that override the environment's (`endpoint`, `region`, `access_key_id`,
    /// `secret_access_key`, `allow_http`, ... as object_store's AmazonS3 configuration keys).
    pub s3: Vec<(String, String)>,
    /// Create a local directory that does not exist (writers do; readers report it missing).
    pub create: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { part_size: 8 << 20, s3: Vec::new(), create: true }
    }
}

impl StoreOptions {
    /// Reads the `[s3]` table of a storage configuration file (TOML): string values by key.
    pub fn with_s3_config_file(mut self, path: &std::path::Path) -> Result<Self, CheckpointError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| location(&file, format!("cannot read it: {e}")))?;
        let table: toml::Table = text.parse().map_err(|e| location(&file, e))?;
        let Some(s3) = table.get("s3").and_then(toml::Value::as_table) else {
            return Err(location(&file, "needs an [s3] table (endpoint, region, access_key_id, ...)"));
        };
        for (key, value) in s3 {
            let value = match value {
                toml::Value::String(v) => v.clone(),
                toml::Value::Boolean(b) => b.to_string(),
                other => return Err(location(&file, format!("s3.{key} = {other}: must be a string or a boolean"))),
            };
            key.parse::<object_store::aws::AmazonS3ConfigKey>()
                .map_err(|_| location(&file, format!("s3.{key}: unknown S3 setting")))?;
            self.s3.push((key.clone(), value));
        }
        Ok(self)
    }
}

/// A checkpoint root in an object store.
pub struct CheckpointStore {
    url: String,
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn ObjectStore>,
    root: Path,
    options: StoreOptions,
    /// The directory of a local store: emptied folders are removed from it too (object stores have none).
    local_dir: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for CheckpointStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointStore({})", self.url)
    }
}

fn location(url: &str, reason: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Location { url: url.to_owned(), reason: reason.to_string() }
}

/// What a user without S3 credentials is told.
const NO_CREDENTIALS: &str = "no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus \
    AWS_SESSION_TOKEN for temporary ones), or access_key_id and secret_access_key in the [s3] table of the \
    file given with --storage-config (skip_signature = true for a public bucket); on a cloud node with a \
    role, AWS_WEB_IDENTITY_TOKEN_FILE or AWS_CONTAINER_CREDENTIALS_* provide them, and an instance profile \
    is asked for them once its metadata endpoint is given (AWS_METADATA_ENDPOINT or metadata_endpoint)";

/// Whether S3 credentials were given: keys in the `[s3]` settings or the environment, a role's token file
/// or container endpoint, anonymous access, or an instance-metadata endpoint named on purpose. Without
/// any, object_store would ask the cloud metadata address on its own (a confusing failure, or a stray
/// connection, off the cloud): cajal refuses first and says where credentials come from.
fn has_s3_credentials(settings: &[(String, String)]) -> bool {
    use object_store::aws::AmazonS3ConfigKey as Key;
    let setting = |key: Key| {
        settings.iter().find(|(k, v)| k.parse::<Key>().is_ok_and(|p| p == key) && !v.is_empty()).map(|(_, v)| v)
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let keys = (setting(Key::AccessKeyId).is_some() || env("AWS_ACCESS_KEY_ID").is_some())
        && (setting(Key::SecretAccessKey).is_some() || env("AWS_SECRET_ACCESS_KEY").is_some());
    let anonymous = setting(Key::SkipSignature).is_some_and(|v| v == "true")
        || env("AWS_SKIP_SIGNATURE").is_some_and(|v| v == "true");
    let role =
        ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"]
            .iter()
            .any(|v| env(v).is_some());
    let metadata = setting(Key::MetadataEndpoint).is_some() || env("AWS_METADATA_ENDPOINT").is_some();
    keys || anonymous || role || metadata
}

impl CheckpointStore {
    /// Opens the checkpoint root `url`; for S3, checks that the bucket exists. Endpoint, region and
    /// credentials come from the standard AWS environment variables, overridden by `options.s3`.
    pub fn open(url: &str, options: StoreOptions) -> Result<Self, CheckpointError> {
        if options.part_size < 5 << 20 {
            return Err(location(url, "the multipart part size must be at least 5 MiB (S3's minimum)"));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| location(url, format!("cannot start the I/O runtime: {e}")))?;
        let mut local_dir = None;
        let (store, root): (Arc<dyn ObjectStore>, Path) = if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(location(url, "an S3 URL needs a bucket: s3://bucket/prefix"));
            }
            let configured_endpoint = options.s3.iter().find(|(k, _)| k.contains("endpoint")).map(|(_, v)| v.clone());
            let endpoint = configured_endpoint.or_else(|| std::env::var("AWS_ENDPOINT_URL").ok()).unwrap_or_default();
            let mut builder =
                AmazonS3Builder::from_env().with_bucket_name(bucket).with_allow_http(endpoint.starts_with("http://"));
            for (key, value) in &options.s3 {
                let key = key.parse().map_err(|_| location(url, format!("unknown S3 setting `{key}`")))?;
                builder = builder.with_config(key, value);
            }
            if !has_s3_credentials(&options.s3) {
                return Err(CheckpointError::Bucket { url: url.to_owned(), reason: NO_CREDENTIALS.to_owned() });
            }
            let s3 = builder.build().map_err(|e| location(url, e))?;
            (Arc::new(s3), Path::from(prefix))
        } else if let Some(rest) = url.strip_prefix("memory://") {
            (Arc::new(InMemory::new()), Path::from(rest))
        } else {
            let dir = url.strip_prefix("file://").unwrap_or(url);
            if dir.contains("://") {
                return Err(location(url, "unknown scheme; use a path, file://, s3:// or memory://"));
            }
            if !options.create && !FsPath::new(dir).is_dir() {
                return Err(CheckpointError::Missing {
                    url: url.to_owned(),
                    reason: "the directory does not exist".into(),
                });
            }
            std::fs::create_dir_all(dir).map_err(|e| location(url, format!("cannot create the directory: {e}")))?;
            let local = LocalFileSystem::new_with_prefix(dir).map_err(|e| location(url, e))?;
            local_dir = Some(std::path::PathBuf::from(dir));
            (Arc::new(local), Path::from(""))
        };
        let opened = Self { url: url.to_owned(), runtime, store, root, options, local_dir };
        opened.check_reachable()?;
        Ok(opened)
    }

    /// The URL the store was opened with.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, rel: &str) -> Path {
        rel.split('/').filter(|p| !p.is_empty()).fold(self.root.clone(), |p, part| p.clone().join(part))
    }

    /// Lists the root once: a missing S3 bucket shows up here, with a clear message.
    fn check_reachable(&self) -> Result<(), CheckpointError> {
        let listing = self.runtime.block_on(self.store.list_with_delimiter(Some(&self.root)));
        match listing {
            Ok(_) => Ok(()),
            Err(e) => {
                let text = e.to_string();
                let reason = if text.contains("NoSuchBucket") || matches!(e, object_store::Error::NotFound { .. }) {
                    "the bucket does not exist (create it first)".to_owned()
                } else {
                    format!("cannot list it: {text}")
                };
                Err(CheckpointError::Bucket { url: self.url.clone(), reason })
            }
        }
    }

    /// Writes `data` to `rel` (atomically: readers see all of it or nothing), in parts if it is large.
    pub fn put(&self, rel: &str, data: Vec<u8>) -> Result<(), CheckpointError> {
        let path = self.path(rel);
        let context = || format!("writing {rel} to {}", self.url);
        self.runtime
            .block_on(async {
                if data.len() <= self.options.part_size {
                    self.store.put(&path, PutPayload::from(data)).await.map(|_| ())
                } else {
                    let upload = self.store.put_multipart(&path).await?;
                    let mut writer = WriteMultipart::new_with_chunk_size(upload, self.options.part_size);
                    writer.write(&data);
                    writer.finish().await.map(|_| ())
                }
            })
            .map_err(|e| CheckpointError::store(context(), e))?;
        self.sync_local(rel)
    }

    /// On a local store, forces `rel` and its folder to disk: a manifest must never outlive the shards it
    /// describes in a machine crash.
    fn sync_local(&self, rel: &str) -> Result<(), CheckpointError> {
        let Some(dir) = &self.local_dir else { return Ok(()) };
        let file = dir.join(rel);
        let sync = |p: &std::path::Path| std::fs::File::open(p).and_then(|f| f.sync_all());
        sync(&file).map_err(|e| CheckpointError::store(format!("syncing {}", file.display()), e))?;
        if let Some(parent) = file.parent() {
            sync(parent).map_err(|e| CheckpointError::store(format!("syncing {}", parent.display()), e))?;
        }
        Ok(())
    }

    /// The entity tag the store reports for `rel` (S3 marks multipart uploads with a `-<parts>` suffix).
    pub fn etag(&self, rel: &str) -> Result<Option<String>, CheckpointError> {
        let path = self.path(rel);
        self.runtime
            .block_on(self.store.head(&path))
            .map(|m| m.e_tag)
            .map_err(|e| CheckpointError::store(format!("looking up {rel} in {}", self.url), e))
    }

    /// Reads `rel`, or `None` if it does not exist.
    pub fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
        let path = self.path(rel);
        let got = self.runtime.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map(|b| b.map(|b| b.to_vec()))
            .map_err(|e| CheckpointError::store(format!("reading {rel} from {}", self.url), e))
    }

    /// Deletes the object `rel` if it exists.
    pub fn delete(&self, rel: &str) -> Result<(), CheckpointError> {
        let path = self.path(rel);
        match self.runtime.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(CheckpointError::store(format!("deleting {rel} from {}", self.url), e)),
        }
    }

    /// Whether the object `rel` exists.
    pub fn exists(&self, rel: &str) -> Result<bool, CheckpointError> {
        match self.runtime.block_on(self.store.head(&self.path(rel))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(CheckpointError::store(format!("looking up {rel} in {}", self.url), e)),
        }
    }

    /// The names of the folders directly under the root.
    pub fn list_folders(&self) -> Result<Vec<String>, CheckpointError> {
        let listing = self
            .runtime
            .block_on(self.store.list_with_delimiter(Some(&self.root)))
            .map_err(|e| CheckpointError::store(format!("listing {}", self.url), e))?;
        let mut names: Vec<String> =
            listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_owned)).collect();
        names.sort();
        Ok(names)
    }

    /// Deletes every object under the folder `name`.
    pub fn delete_folder(&self, name: &str) -> Result<(), CheckpointError> {
        let prefix = self.path(name);
        let context = || format!("deleting {name} from {}", self.url);
        self.runtime
            .block_on(async {
                let objects: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
                for o in objects {
                    self.store.delete(&o.location).await?;
                }
                Ok::<(), object_store::Error>(())
            })
            .map_err(|e| CheckpointError::store(context(), e))?;
        if let Some(dir) = &self.local_dir {
            let _ = std::fs::remove_dir_all(dir.join(name));
        }
        Ok(())
    }
}
