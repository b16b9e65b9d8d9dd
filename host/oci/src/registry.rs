//! Pushing a component to a registry and pulling one, verified, through the
//! [`ComponentCache`].
//!
//! Both go through `oci-client` (the ORAS project's OCI distribution
//! client). Registries on this machine (`localhost`, `127.0.0.0/8`, `[::1]`)
//! are spoken to over plain HTTP, as local registries usually run; every
//! other one over HTTPS, verified against the system's roots.
//!
//! # What a pull checks
//!
//! 1. The manifest: when the reference pins a digest, the manifest's bytes
//!    must hash to it (checked by `oci-client`, like the registry's
//!    `Docker-Content-Digest`). It must follow the Wasm layout: config media
//!    type [`WASM_CONFIG_MEDIA_TYPE`] and exactly one
//!    [`WASM_LAYER_MEDIA_TYPE`] layer of at most [`MAX_COMPONENT_BYTES`].
//! 2. The layer: served from the cache when its digest is there (the cache
//!    re-hashes on read); else downloaded, at most the size the manifest
//!    declares, and its sha256 must be the layer digest. A mismatch is an
//!    error and nothing is cached.
//! 3. The bytes must be a valid WebAssembly component; only then are they
//!    cached.
//!
//! The host that finally runs the component checks it once more (digest,
//! trust policy, compilation), as for any upload.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use futures::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use wharf_deploy::Digest;
use wharf_manifest::OciReference;

use crate::cache::ComponentCache;
use crate::layout::{
    MANIFEST_MEDIA_TYPE, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, WasmConfig,
    inspect_component,
};

/// The largest component pushed or pulled: the same bound as the host's
/// admin API puts on uploads.
pub const MAX_COMPONENT_BYTES: u64 = 512 * 1024 * 1024;

/// Environment variable with the registry user name.
pub const USER_ENV: &str = "WHARF_REGISTRY_USER";
/// Environment variable with the registry password or token.
pub const PASSWORD_ENV: &str = "WHARF_REGISTRY_PASSWORD";

/// How long connecting to a registry may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a registry may stay silent in the middle of a response.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A user name and password (or token) for a registry.
#[derive(Clone)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// Credentials for registries that want them.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// `WHARF_REGISTRY_USER` and `WHARF_REGISTRY_PASSWORD`, when both are
    /// set; `None` (anonymous) when neither is.
    ///
    /// # Errors
    ///
    /// When only one of the two is set, or one is not UTF-8.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        let read = |name: &str| match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(anyhow!("{name} is not UTF-8")),
        };
        match (read(USER_ENV)?, read(PASSWORD_ENV)?) {
            (Some(user), Some(password)) => Ok(Some(Self::new(user, password))),
            (None, None) => Ok(None),
            (Some(_), None) => bail!("{USER_ENV} is set but {PASSWORD_ENV} is not; set both"),
            (None, Some(_)) => bail!("{PASSWORD_ENV} is set but {USER_ENV} is not; set both"),
        }
    }
}

/// Never shows the password.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What [`Registry::push`] put in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The reference pinned to the manifest's digest
    /// (`registry/repo@sha256:…`), which always pulls these bytes.
    pub pinned: OciReference,
    /// The manifest's digest.
    pub manifest_digest: String,
    /// The component's digest (the layer's).
    pub component_digest: Digest,
    /// The component's size in bytes.
    pub size: u64,
}

/// A pulled component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The component's bytes, verified.
    pub bytes: Vec<u8>,
    /// Their digest: the manifest's layer digest.
    pub digest: Digest,
    /// The digest of the manifest that named them.
    pub manifest_digest: String,
    /// Whether the bytes came from the cache instead of the registry.
    pub from_cache: bool,
}

/// A client for OCI registries, anonymous or with [`Credentials`].
#[derive(Debug, Clone, Default)]
pub struct Registry {
    credentials: Option<Credentials>,
}

impl Registry {
    /// Anonymous unless `credentials` are given.
    pub fn new(credentials: Option<Credentials>) -> Self {
        Self { credentials }
    }

    fn auth(&self) -> RegistryAuth {
        match &self.credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    /// Pushes `bytes`, which must be a WebAssembly component, to
    /// `reference` (which must have a tag) in the Wasm OCI layout.
    ///
    /// # Errors
    ///
    /// When the bytes are not a component (checked before anything is
    /// sent), the reference has no tag, or the registry refuses.
    pub async fn push(&self, bytes: Vec<u8>, reference: &OciReference) -> anyhow::Result<Pushed> {
        let info = inspect_component(&bytes)?;
        let Some(tag) = reference.tag() else {
            bail!("pushing needs a tag: {} has none", reference);
        };
        anyhow::ensure!(
            reference.digest().is_none(),
            "push to a tag without a digest (the registry computes it): {reference}"
        );
        let size = bytes.len() as u64;
        anyhow::ensure!(
            size <= MAX_COMPONENT_BYTES,
            "the component is {size} bytes; at most {MAX_COMPONENT_BYTES} can be pushed"
        );
        let component_digest = Digest::of(&bytes);
        let config = serde_json::to_vec(&WasmConfig::for_component(&component_digest, info))
            .context("cannot encode the artifact config")?;
        let config_digest = Digest::of(&config);
        let manifest = OciImageManifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.to_owned()),
            config: descriptor(WASM_CONFIG_MEDIA_TYPE, &config_digest, config.len()),
            layers: vec![descriptor(
                WASM_LAYER_MEDIA_TYPE,
                &component_digest,
                bytes.len(),
            )],
            ..OciImageManifest::default()
        };
        // Serialised here, so the digest printed is the digest of the very
        // bytes sent.
        let manifest_bytes =
            serde_json::to_vec(&manifest).context("cannot encode the image manifest")?;
        let manifest_digest = Digest::of(&manifest_bytes).to_string();

        let client = client_for(reference)?;
        let target = Reference::with_tag(
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            tag.to_owned(),
        );
        let what = reference.url();
        client
            .store_auth_if_needed(target.resolve_registry(), &self.auth())
            .await;
        for (data, digest) in [
            (Bytes::from(bytes), component_digest),
            (Bytes::from(config), config_digest),
        ] {
            let digest = digest.to_string();
            let present = client
                .blob_exists(&target, &digest)
                .await
                .map_err(|e| explain(e, &what))?;
            if !present {
                client
                    .push_blob(&target, data, &digest)
                    .await
                    .map_err(|e| explain(e, &what))
                    .with_context(|| format!("cannot upload blob {digest}"))?;
            }
        }
        let content_type = http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE);
        client
            .push_manifest_raw(&target, manifest_bytes, content_type)
            .await
            .map_err(|e| explain(e, &what))
            .context("cannot upload the manifest")?;
        Ok(Pushed {
            pinned: reference.with_digest(&manifest_digest),
            manifest_digest,
            component_digest,
            size,
        })
    }

    /// Pulls the component `reference` names, verified, from `cache` when
    /// its bytes are there and from the registry otherwise (then caching
    /// them).
    ///
    /// # Errors
    ///
    /// When the registry cannot be reached or does not know the reference,
    /// the artifact is not a Wasm component in the Wasm layout, or a digest
    /// does not match (nothing is cached then).
    pub async fn pull(
        &self,
        reference: &OciReference,
        cache: &ComponentCache,
    ) -> anyhow::Result<Pulled> {
        let what = reference.url();
        let client = client_for(reference)?;
        let target = match (reference.tag(), reference.digest()) {
            (_, Some(digest)) => Reference::with_digest(
                reference.registry().to_owned(),
                reference.repository().to_owned(),
                digest.to_owned(),
            ),
            (Some(tag), None) => Reference::with_tag(
                reference.registry().to_owned(),
                reference.repository().to_owned(),
                tag.to_owned(),
            ),
            (None, None) => bail!("{what} names neither a tag nor a digest"),
        };
        let (manifest, manifest_digest) = client
            .pull_image_manifest(&target, &self.auth())
            .await
            .map_err(|e| explain(e, &what))?;
        let layer = wasm_layer(&manifest)
            .with_context(|| format!("{what} is not a Wasm component artifact"))?;
        let digest: Digest = layer.digest.parse().map_err(|_| {
            anyhow!(
                "{what}: the layer digest `{}` is not a sha256 digest",
                layer.digest
            )
        })?;
        let size = u64::try_from(layer.size)
            .map_err(|_| anyhow!("{what}: the manifest gives the layer a negative size"))?;
        anyhow::ensure!(
            size <= MAX_COMPONENT_BYTES,
            "{what}: the component is {size} bytes; at most {MAX_COMPONENT_BYTES} are pulled"
        );

        if let Some(bytes) = cache.get(&digest).await? {
            inspect_component(&bytes)
                .with_context(|| format!("{what} ({digest}) is not a WebAssembly component"))?;
            return Ok(Pulled {
                bytes,
                digest,
                manifest_digest,
                from_cache: true,
            });
        }

        let bytes = download(&client, &target, layer, size, &digest, &what).await?;
        inspect_component(&bytes)
            .with_context(|| format!("{what} ({digest}) is not a WebAssembly component"))?;
        cache.put(&digest, &bytes).await?;
        Ok(Pulled {
            bytes,
            digest,
            manifest_digest,
            from_cache: false,
        })
    }
}

fn descriptor(media_type: &str, digest: &Digest, size: usize) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_owned(),
        digest: digest.to_string(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        ..OciDescriptor::default()
    }
}

/// The one `application/wasm` layer of a manifest in the Wasm layout.
fn wasm_layer(manifest: &OciImageManifest) -> anyhow::Result<&OciDescriptor> {
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        bail!(
            "its config has media type `{}`, not `{WASM_CONFIG_MEDIA_TYPE}` (a container image?)",
            manifest.config.media_type
        );
    }
    match manifest.layers.as_slice() {
        [layer] if layer.media_type == WASM_LAYER_MEDIA_TYPE => Ok(layer),
        [layer] => bail!(
            "its layer has media type `{}`, not `{WASM_LAYER_MEDIA_TYPE}`",
            layer.media_type
        ),
        layers => bail!(
            "it has {} layers; a Wasm component artifact has exactly one",
            layers.len()
        ),
    }
}

/// The layer's bytes, at most `size` of them (what the manifest declares),
/// hashing to `digest`.
async fn download(
    client: &Client,
    target: &Reference,
    layer: &OciDescriptor,
    size: u64,
    digest: &Digest,
    what: &str,
) -> anyhow::Result<Vec<u8>> {
    let mismatch = |actual: &dyn std::fmt::Display| {
        anyhow!(
            "digest mismatch for {what}: the manifest names the component {digest}, but the \
             registry sent bytes that hash to {actual}; refusing them (nothing was cached)"
        )
    };
    let mut stream = client
        .pull_blob_stream(target, layer)
        .await
        .map_err(|e| explain(e, what))?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        // `oci-client` verifies the stream against the layer digest (and
        // the registry's `Docker-Content-Digest`) at its end.
        let chunk = chunk.map_err(|e| {
            match e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<DigestError>())
            {
                Some(DigestError::VerificationError { actual, .. }) => mismatch(actual),
                _ => anyhow::Error::new(e).context(format!("cannot download {digest} of {what}")),
            }
        })?;
        if (bytes.len() + chunk.len()) as u64 > size {
            bail!(
                "{what}: the registry sent more than the {size} bytes the manifest declares for {digest}"
            );
        }
        bytes.extend_from_slice(&chunk);
    }
    // Checked here as well, so a mismatch is refused whatever the client
    // library does.
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(mismatch(&actual));
    }
    Ok(bytes)
}

/// An `oci-client` for `reference`'s registry: plain HTTP on loopback,
/// HTTPS elsewhere.
fn client_for(reference: &OciReference) -> anyhow::Result<Client> {
    crate::install_crypto_provider();
    let protocol = if reference.is_loopback_registry() {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    let config = ClientConfig {
        protocol,
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        // A Wasm artifact is a single manifest; an image index would be a
        // container image, refused with a clear message.
        platform_resolver: None,
        user_agent: concat!("wharf/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    };
    Client::try_from(config).context("cannot set up the registry client")
}

/// `oci-client`'s errors, in words that say what to do.
fn explain(error: OciDistributionError, what: &str) -> anyhow::Error {
    match &error {
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            let unknown = codes.iter().any(|code| {
                matches!(
                    code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                        | OciErrorCode::BlobUnknown
                )
            });
            let details: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| format!("{:?}: {}", e.code, e.message))
                .collect();
            let denied = codes
                .iter()
                .any(|code| matches!(code, OciErrorCode::Unauthorized | OciErrorCode::Denied));
            if denied {
                anyhow!(
                    "the registry denied access to {what} ({}); set {USER_ENV} and {PASSWORD_ENV}",
                    details.join("; ")
                )
            } else if unknown {
                anyhow!(
                    "{what} was not found in the registry (no such repository, tag or digest): {}",
                    details.join("; ")
                )
            } else {
                anyhow!(
                    "the registry refused the request for {what}: {}",
                    details.join("; ")
                )
            }
        }
        OciDistributionError::ImageManifestNotFoundError(_) => {
            anyhow!("{what} was not found in the registry: {error}")
        }
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => anyhow!(
            "the registry denied access to {what} ({error}); set {USER_ENV} and {PASSWORD_ENV}"
        ),
        OciDistributionError::DigestError(_) => {
            anyhow!("digest mismatch for {what}: {error}; refusing it (nothing was cached)")
        }
        OciDistributionError::ImageIndexParsingNoPlatformResolverError => anyhow!(
            "{what} is an image index (a multi-platform container image?), not a Wasm component"
        ),
        OciDistributionError::RequestError(e)
            if e.status()
                .is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403) =>
        {
            anyhow!(
                "the registry denied access to {what} ({error}); set {USER_ENV} and {PASSWORD_ENV}"
            )
        }
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
            anyhow!("cannot reach the registry for {what}: {error}")
        }
        _ => anyhow::Error::new(error).context(format!("registry request for {what} failed")),
    }
}
