//! Files people share: their bytes on disk under `DATA_DIR`, named by SHA-256 (the same bytes are
//! stored once), their metadata through [`FileStore`].
//!
//! ```text
//! DATA_DIR/attachments/ab/ab12…   the bytes of every blob
//! DATA_DIR/thumbnails/ab/ab12….jpg  an image's thumbnail (or .png), made on first request
//! DATA_DIR/tmp/                   uploads being received
//! ```
//!
//! An upload streams to a temporary file while it is hashed and counted (never held in memory),
//! loses what a photo says about its author (a JPEG's EXIF, XMP, comments: see `strip.rs`; its
//! orientation is kept), is recorded in the database, and only then moved to its blob path. Removing an orphan blob
//! is the reverse: its row goes first, then its file is moved aside, and put back if an upload
//! of the same bytes recorded the blob again meanwhile. So however an upload and a removal
//! interleave — on one node or several sharing `DATA_DIR` — a recorded attachment's bytes are on
//! disk once its upload has answered.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use axum::body::Bytes;
use futures_util::{Stream, StreamExt as _};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use image::metadata::Orientation;

use crate::store::{AttachmentRow, DynStore, FileStore, NewAttachment};

mod strip;

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_MAX: u32 = 320;
/// Uploads never sent are removed after this long.
pub const UNSENT_TTL: Duration = Duration::from_secs(24 * 3600);
/// How often the sweeper looks for unsent uploads and orphan blobs (sooner after a deletion).
const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// The largest image a thumbnail is made from (a decompression bomb is refused, not decoded).
const DECODE_MAX_SIDE: u32 = 16_384;
const DECODE_MAX_PIXELS: i64 = 50_000_000;
const DECODE_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Uploads received at once by one node: each may hold up to a part's headers in memory.
const UPLOADS_AT_ONCE: usize = 32;
/// How much one user may have uploaded and not sent, as a multiple of the largest upload.
const UNSENT_PER_USER: u64 = 10;
/// Bytes looked at to tell what a file is.
const SNIFF_BYTES: usize = 8192;

/// Images shown inline and given thumbnails: raster formats browsers display safely (never SVG,
/// which can carry script).
pub const INLINE_IMAGES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Why an upload was not stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("file too large")]
    TooLarge,
    /// The user's unsent uploads already take all they may have.
    #[error("too many unsent uploads")]
    QuotaFull,
    /// The user's files (sent or not) already take all they may have (`used` of `quota` bytes).
    #[error("storage quota reached")]
    StorageFull { used: u64, quota: u64 },
    /// This node is receiving as many uploads as it takes at once.
    #[error("too many uploads at once")]
    Busy,
    /// The client's body failed or stalled.
    #[error("upload interrupted: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What [`Files::sweep`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Uploads never sent.
    pub uploads: u64,
    /// Blobs (files) nothing referred to any more.
    pub files: u64,
}

/// A file received into `tmp/`, removed when dropped unless it was moved to its blob path.
struct Received {
    temp: Option<PathBuf>,
    sha256: String,
    size: u64,
    head: Vec<u8>,
}

impl Drop for Received {
    fn drop(&mut self) {
        if let Some(path) = self.temp.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub struct Files {
    dir: PathBuf,
    max_upload: u64,
    /// The most one user's files may take, sent or not (0: no limit).
    user_quota: u64,
    /// Wakes the sweeper early (a message with files was deleted).
    nudge: tokio::sync::Notify,
    /// Thumbnails made at once (each decodes a whole image).
    thumbnailing: Arc<tokio::sync::Semaphore>,
    /// Uploads received at once.
    receiving: Arc<tokio::sync::Semaphore>,
    /// Bytes of uploads being received by this node, per user (see [`Files::admit`]).
    inflight: Arc<std::sync::Mutex<std::collections::HashMap<i64, u64>>>,
}

/// An upload let in by [`Files::admit`]: its place among the uploads this node receives at
/// once, and the bytes it reserves against its uploader's quota, both given back when dropped.
pub struct Admission {
    _permit: tokio::sync::OwnedSemaphorePermit,
    inflight: Arc<std::sync::Mutex<std::collections::HashMap<i64, u64>>>,
    user_id: i64,
    size: u64,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut inflight = self.inflight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(reserved) = inflight.get_mut(&self.user_id) {
            *reserved = reserved.saturating_sub(self.size);
            if *reserved == 0 {
                inflight.remove(&self.user_id);
            }
        }
    }
}

impl Files {
    /// Uses (and creates) `dir`; clears uploads left half-received by an earlier run.
    /// `user_quota`: the most one user's files may take (0: no limit).
    pub fn open(dir: &Path, max_upload: u64, user_quota: u64) -> anyhow::Result<Self> {
        for sub in ["attachments", "thumbnails", "tmp"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        }
        let files = Self {
            dir: dir.to_owned(),
            max_upload,
            user_quota,
            nudge: tokio::sync::Notify::new(),
            thumbnailing: Arc::new(tokio::sync::Semaphore::new(2)),
            receiving: Arc::new(tokio::sync::Semaphore::new(UPLOADS_AT_ONCE)),
            inflight: Arc::default(),
        };
        files.clear_stale_temp(Duration::from_secs(3600));
        Ok(files)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn max_upload(&self) -> u64 {
        self.max_upload
    }

    /// Where the blob's bytes are.
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("attachments").join(&sha256[..2.min(sha256.len())]).join(sha256)
    }

    /// `kind`: `jpg`, `png`, or `none` (a marker: no thumbnail can be made of it).
    fn thumbnail_path(&self, sha256: &str, kind: &str) -> PathBuf {
        self.dir.join("thumbnails").join(&sha256[..2.min(sha256.len())]).join(format!("{sha256}.{kind}"))
    }

    /// Lets an upload of (at most) `size` bytes in, once this node has room for it among the
    /// uploads it receives at once (waiting a little; else `Busy`): refused if the user's files —
    /// stored, and on their way through this node — would then pass their quota, or if their
    /// unsent uploads already take their share. The admission is held while the body is read
    /// and recorded. Each upload reserves its size before it reads what is stored, so uploads
    /// of one user at once on one node see each other; on several nodes each node counts only
    /// its own, and the quota can be passed by what the others receive at that moment.
    pub async fn admit(&self, user_id: i64, size: u64, store: &DynStore) -> Result<Admission, UploadError> {
        let permit = match tokio::time::timeout(Duration::from_secs(10), self.receiving.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(UploadError::Busy),
        };
        let size = size.min(self.max_upload);
        let ahead = {
            let mut inflight = self.inflight.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let reserved = inflight.entry(user_id).or_default();
            let ahead = *reserved;
            *reserved += size;
            ahead
        };
        let admission = Admission { _permit: permit, inflight: self.inflight.clone(), user_id, size };
        let (total, unsent) = store.upload_usage(user_id).await?;
        let (used, unsent) = (u64::try_from(total).unwrap_or(0), u64::try_from(unsent).unwrap_or(0));
        if self.user_quota > 0 && used.saturating_add(ahead).saturating_add(size) > self.user_quota {
            return Err(UploadError::StorageFull { used: used.saturating_add(ahead), quota: self.user_quota });
        }
        if unsent >= self.max_upload.saturating_mul(UNSENT_PER_USER) {
            return Err(UploadError::QuotaFull);
        }
        Ok(admission)
    }

    fn temp_path(&self) -> PathBuf {
        self.dir.join("tmp").join(format!("{}.part", uuid::Uuid::new_v4()))
    }

    /// Removes temporary files older than `age` (left by a crash; another node sharing the
    /// directory may be writing newer ones).
    fn clear_stale_temp(&self, age: Duration) {
        let Ok(entries) = std::fs::read_dir(self.dir.join("tmp")) else { return };
        for entry in entries.flatten() {
            let old = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().unwrap_or_default() > age);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Receives an upload's bytes and records it as `uploader`'s, named `filename`. The body is
    /// written to disk as it arrives; past `max_upload` bytes it is refused. `idle` bounds the
    /// wait for each chunk.
    pub async fn upload<S>(
        &self,
        store: &DynStore,
        uploader: i64,
        filename: &str,
        body: S,
        idle: Duration,
    ) -> Result<AttachmentRow, UploadError>
    where
        S: Stream<Item = Result<Bytes, UploadError>> + Unpin,
    {
        let mut received = self.receive(body, idle).await?;
        let content_type = sniff(&received.head, received.size);
        if content_type == "image/jpeg" {
            self.strip_metadata(&mut received).await?;
        }
        let temp = received.temp.clone().unwrap_or_default();
        let (width, height) = if INLINE_IMAGES.contains(&content_type) {
            tokio::task::spawn_blocking(move || image_size(&temp)).await.unwrap_or(None).unzip()
        } else {
            (None, None)
        };
        let row = store
            .add_attachment(&NewAttachment {
                uploader_id: uploader,
                sha256: received.sha256.clone(),
                filename: filename.to_owned(),
                content_type: content_type.to_owned(),
                size: i64::try_from(received.size).unwrap_or(i64::MAX),
                width,
                height,
            })
            .await?;
        // Recorded first, moved second: see the module's note.
        self.keep(received).await?;
        Ok(row)
    }

    async fn receive<S>(&self, mut body: S, idle: Duration) -> Result<Received, UploadError>
    where
        S: Stream<Item = Result<Bytes, UploadError>> + Unpin,
    {
        let path = self.temp_path();
        let mut file = tokio::fs::File::create(&path).await?;
        let mut received = Received { temp: Some(path), sha256: String::new(), size: 0, head: Vec::new() };
        let mut hash = Sha256::new();
        loop {
            let chunk = match tokio::time::timeout(idle, body.next()).await {
                Err(_) => return Err(UploadError::Interrupted("no data for too long".into())),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(e),
                Ok(Some(Ok(chunk))) => chunk,
            };
            received.size += chunk.len() as u64;
            if received.size > self.max_upload {
                return Err(UploadError::TooLarge);
            }
            if received.head.len() < SNIFF_BYTES {
                let take = (SNIFF_BYTES - received.head.len()).min(chunk.len());
                received.head.extend_from_slice(&chunk[..take]);
            }
            hash.update(&chunk);
            file.write_all(&chunk).await?;
        }
        // On disk before it is acknowledged.
        file.sync_all().await?;
        received.sha256 = format!("{:x}", hash.finalize());
        Ok(received)
    }

    /// Replaces a received JPEG with a copy without its metadata (hashed and counted anew), if it
    /// had any. A file that does not even start as a JPEG is kept as it came.
    async fn strip_metadata(&self, received: &mut Received) -> Result<(), UploadError> {
        let Some(source) = received.temp.clone() else { return Ok(()) };
        // The copy's guard goes into the blocking task, so that its file is removed only once
        // nothing writes it any more (the request may be dropped meanwhile).
        let mut copy = Received { temp: Some(self.temp_path()), sha256: String::new(), size: 0, head: Vec::new() };
        let copy = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Received>> {
            let target = copy.temp.clone().unwrap_or_default();
            let input = std::fs::File::open(&source)?;
            let file = std::io::BufWriter::new(std::fs::File::create(&target)?);
            let mut out = Hashing { file, hash: Sha256::new(), size: 0 };
            match strip::strip_jpeg(input, &mut out) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof) => {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
            out.file.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()?;
            copy.sha256 = format!("{:x}", out.hash.finalize());
            copy.size = out.size;
            Ok(Some(copy))
        })
        .await
        .map_err(|e| UploadError::Io(std::io::Error::other(e)))??;
        if let Some(mut copy) = copy {
            copy.head = std::mem::take(&mut received.head);
            // What was received is dropped (its temp file removed); the copy takes its place.
            *received = copy;
        }
        Ok(())
    }

    /// Moves a received file to its blob path (the same bytes may be there already: replacing
    /// them with themselves is harmless).
    async fn keep(&self, mut received: Received) -> std::io::Result<()> {
        let target = self.blob_path(&received.sha256);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        if let Some(temp) = received.temp.as_ref() {
            tokio::fs::rename(temp, &target).await?;
        }
        received.temp = None;
        // The rename itself is on disk before the upload is acknowledged.
        if let Some(parent) = target.parent() {
            sync_dir(parent).await?;
        }
        Ok(())
    }

    /// The attachment's thumbnail (made now if it is the first request): its path and type, or
    /// `None` if it is not an image that can be shown small.
    pub async fn thumbnail(&self, row: &AttachmentRow) -> anyhow::Result<Option<(PathBuf, &'static str)>> {
        let pixels = row.width.unwrap_or(0).saturating_mul(row.height.unwrap_or(0));
        if !INLINE_IMAGES.contains(&row.content_type.as_str()) || pixels > DECODE_MAX_PIXELS {
            return Ok(None);
        }
        for (ext, kind) in [("jpg", "image/jpeg"), ("png", "image/png"), ("none", "")] {
            let path = self.thumbnail_path(&row.sha256, ext);
            if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                return Ok((!kind.is_empty()).then_some((path, kind)));
            }
        }
        // The permit goes with the work: a request given up on does not free it while its
        // decoding still runs.
        let permit = self.thumbnailing.clone().acquire_owned().await?;
        let source = self.blob_path(&row.sha256);
        let paths = [self.thumbnail_path(&row.sha256, "jpg"), self.thumbnail_path(&row.sha256, "png")];
        let none = self.thumbnail_path(&row.sha256, "none");
        let temp = self.temp_path();
        let made = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let made = make_thumbnail(&source, &temp, &paths);
            if matches!(made, Ok(None)) && source.exists() {
                // Not decodable: remembered, so it is never tried again.
                if let Some(parent) = none.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = std::fs::File::create(&none);
            }
            made
        })
        .await??;
        Ok(made)
    }

    /// Removes uploads never sent that are older than `unsent_age`, then every blob nothing
    /// refers to, with its file and thumbnail.
    pub async fn sweep(&self, store: &dyn FileStore, unsent_age: Duration) -> anyhow::Result<Swept> {
        let mut swept = Swept::default();
        let before = crate::store::now() - chrono::Duration::from_std(unsent_age)?;
        loop {
            let n = store.remove_unsent(before, 500).await?;
            swept.uploads += n;
            if n < 500 {
                break;
            }
        }
        loop {
            let orphans = store.orphan_blobs(500).await?;
            let mut removed = 0;
            for sha256 in &orphans {
                match self.remove_blob(store, sha256).await {
                    Ok(true) => removed += 1,
                    Ok(false) => {}
                    // Most likely an upload of the same bytes got there first; the next sweep sees.
                    Err(e) => tracing::warn!(sha256, error = %e, "removing an unused file failed"),
                }
            }
            swept.files += removed;
            if orphans.len() < 500 || removed == 0 {
                break;
            }
        }
        Ok(swept)
    }

    /// Removes an orphan blob's row, then its file: moved aside first, and put back if the row
    /// came back (an upload of the same bytes) before it was unlinked.
    async fn remove_blob(&self, store: &dyn FileStore, sha256: &str) -> anyhow::Result<bool> {
        if !is_sha256(sha256) || !store.forget_blob(sha256).await? {
            return Ok(false);
        }
        let path = self.blob_path(sha256);
        let aside = self.temp_path();
        match tokio::fs::rename(&path, &aside).await {
            Ok(()) => {
                if store.blob_known(sha256).await? {
                    tokio::fs::rename(&aside, &path).await?;
                    return Ok(false);
                }
                tokio::fs::remove_file(&aside).await?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        for ext in ["jpg", "png", "none"] {
            let _ = tokio::fs::remove_file(self.thumbnail_path(sha256, ext)).await;
        }
        Ok(true)
    }

    /// Asks the sweeper to run soon (files may have lost their last reference).
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// Sweeps every [`SWEEP_EVERY`] and when nudged, until shutdown.
    pub fn spawn_sweeper(self: Arc<Self>, store: DynStore, shutdown: tokio_util::sync::CancellationToken) {
        tokio::spawn(async move {
            loop {
                match self.sweep(&*store, UNSENT_TTL).await {
                    Ok(s) if s != Swept::default() => {
                        tracing::info!(uploads = s.uploads, files = s.files, "removed unused files");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "sweeping unused files failed"),
                }
                self.clear_stale_temp(Duration::from_secs(3600));
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = self.nudge.notified() => {}
                    () = tokio::time::sleep(SWEEP_EVERY) => {}
                }
            }
        });
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the bytes are, from their first bytes (`head`): a known signature, else UTF-8 text,
/// else opaque bytes. The client's claim is never used.
pub fn sniff(head: &[u8], size: u64) -> &'static str {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type();
    }
    if size > 0 && !head.contains(&0) {
        match std::str::from_utf8(head) {
            Ok(_) => return "text/plain; charset=utf-8",
            // Cut inside a character at the end of the sample: still text.
            Err(e) if e.error_len().is_none() && head.len() == SNIFF_BYTES => return "text/plain; charset=utf-8",
            Err(_) => {}
        }
    }
    "application/octet-stream"
}

/// fsync of a directory: a rename into it survives a power loss.
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    file: W,
    hash: Sha256,
    size: u64,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// An image's size in pixels as it is shown (its EXIF orientation applied), from its header.
fn image_size(path: &Path) -> Option<(i64, i64)> {
    use image::ImageDecoder as _;
    let mut decoder = image::ImageReader::open(path).ok()?.with_guessed_format().ok()?.into_decoder().ok()?;
    let (w, h) = decoder.dimensions();
    let turned = matches!(
        decoder.orientation(),
        Ok(Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH)
    );
    let (w, h) = if turned { (h, w) } else { (w, h) };
    Some((i64::from(w), i64::from(h)))
}

/// Decodes the image at `source` (within limits, turned as its EXIF orientation says), scales
/// it to fit [`THUMBNAIL_MAX`] (never up) and writes a JPEG to `paths[0]` — or a PNG to
/// `paths[1]` if it has transparency — through `temp`. `None` if it cannot be decoded.
fn make_thumbnail(source: &Path, temp: &Path, paths: &[PathBuf; 2]) -> anyhow::Result<Option<(PathBuf, &'static str)>> {
    use image::ImageDecoder as _;
    let mut reader = match image::ImageReader::open(source) {
        Ok(r) => r.with_guessed_format()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(DECODE_MAX_SIDE);
    limits.max_image_height = Some(DECODE_MAX_SIDE);
    limits.max_alloc = Some(DECODE_MAX_BYTES);
    reader.limits(limits);
    let Ok(mut decoder) = reader.into_decoder() else { return Ok(None) };
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let Ok(mut image) = image::DynamicImage::from_decoder(decoder) else { return Ok(None) };
    image.apply_orientation(orientation);
    let small = if image.width() > THUMBNAIL_MAX || image.height() > THUMBNAIL_MAX {
        image.thumbnail(THUMBNAIL_MAX, THUMBNAIL_MAX)
    } else {
        image
    };
    let transparent = small.color().has_alpha();
    let (target, kind) = if transparent { (&paths[1], "image/png") } else { (&paths[0], "image/jpeg") };
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(temp)?);
        if transparent {
            small.write_to(&mut out, image::ImageFormat::Png)?;
        } else {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82);
            small.into_rgb8().write_with_encoder(encoder)?;
        }
        out.flush()?;
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(temp, target)?;
    Ok(Some((target.to_owned(), kind)))
}

/// A file name as shown and offered for download: its last path component, without control
/// characters, at most 255 bytes; `file` if nothing is left.
pub fn clean_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    // Control characters, and the direction overrides that make "gpj.exe" look like "exe.jpg".
    let bidi = |c: &char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let mut clean: String = last.chars().filter(|c| !c.is_control() && !bidi(c)).collect();
    let trimmed = clean.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        return "file".into();
    }
    clean = trimmed.to_owned();
    while clean.len() > 255 {
        clean.pop();
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(clean_filename("cat.png"), "cat.png");
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\Users\\me\\report.pdf"), "report.pdf");
        assert_eq!(clean_filename("a\u{0}b\r\n.txt"), "ab.txt");
        assert_eq!(clean_filename(""), "file");
        assert_eq!(clean_filename(".."), "file");
        assert_eq!(clean_filename("photo\u{202e}gpj.exe"), "photogpj.exe");
        assert_eq!(clean_filename(&"é".repeat(200)).len(), 254);
    }

    #[test]
    fn types_come_from_the_bytes() {
        let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R'];
        assert_eq!(sniff(&png, 16), "image/png");
        assert_eq!(sniff(b"hello, world\n", 13), "text/plain; charset=utf-8");
        assert_eq!(sniff(&[0xff, 0x00, 0x12, 0x80], 4), "application/octet-stream");
        assert_eq!(sniff(b"", 0), "application/octet-stream");
        // A sample cut in the middle of "é" is still text.
        let mut cut = vec![b'a'; SNIFF_BYTES - 1];
        cut.push(0xc3);
        assert_eq!(sniff(&cut, 100_000), "text/plain; charset=utf-8");
    }
}
