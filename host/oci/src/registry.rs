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
//!
//! # Where credentials go
//!
//! Credentials belong to one registry: `WHARF_REGISTRY_HOST` names it
//! (`registry[:port]` as written in references), and a reference to any
//! other registry is then pulled or pushed anonymously. They are never sent
//! over plain HTTP except to loopback, and never to a token service (the
//! Bearer `realm` a registry names in `WWW-Authenticate`) outside the
//! registry's own domain or over plain HTTP to anything but loopback: before
//! credentials are used, the registry's `/v2/` challenge is read and such a
//! realm is refused with an error ([`check_realm`]).
//!
//! # Sizes
//!
//! A manifest is read by this module, not by `oci-client`, so it can be
//! capped: at most [`MAX_MANIFEST_BYTES`], refused as soon as the registry
//! announces or sends more. Layers are capped at the size the manifest
//! declares and at [`MAX_COMPONENT_BYTES`].

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use futures::StreamExt as _;
use oci_client::RegistryOperation;
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

/// Largest image manifest read from a registry. A Wasm component's is a few
/// hundred bytes; the bound keeps a hostile registry from making the host
/// buffer an endless body.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;

/// Environment variable naming the registry (`host[:port]`) the
/// credentials belong to.
pub const REGISTRY_ENV: &str = "WHARF_REGISTRY_HOST";
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
    /// The registry they belong to; `None`: whichever registry a command
    /// names.
    registry: Option<String>,
}

impl Credentials {
    /// Credentials for registries that want them.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            registry: None,
        }
    }

    /// The same credentials, sent only to `registry` (`host[:port]`).
    #[must_use]
    pub fn for_registry(mut self, registry: impl Into<String>) -> Self {
        self.registry = Some(registry.into());
        self
    }

    /// Whether these credentials may be sent to `registry`.
    fn belong_to(&self, registry: &str) -> bool {
        self.registry
            .as_deref()
            .is_none_or(|own| own.eq_ignore_ascii_case(registry))
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
        let registry = read(REGISTRY_ENV)?;
        match (read(USER_ENV)?, read(PASSWORD_ENV)?) {
            (Some(user), Some(password)) => {
                let credentials = Self::new(user, password);
                Ok(Some(match registry {
                    Some(registry) => credentials.for_registry(registry),
                    None => credentials,
                }))
            }
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
            .field("registry", &self.registry)
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

    /// The credentials for `reference`'s registry, if it has some.
    fn credentials_for(&self, reference: &OciReference) -> Option<&Credentials> {
        self.credentials
            .as_ref()
            .filter(|c| c.belong_to(reference.registry()))
    }

    /// What `oci-client` sends to `reference`'s registry: the credentials
    /// when they belong to it and its token service passes
    /// [`check_realm`], else nothing.
    async fn auth(&self, reference: &OciReference) -> anyhow::Result<RegistryAuth> {
        let Some(c) = self.credentials_for(reference) else {
            return Ok(RegistryAuth::Anonymous);
        };
        check_challenge(reference).await?;
        Ok(RegistryAuth::Basic(c.username.clone(), c.password.clone()))
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
            .store_auth_if_needed(target.resolve_registry(), &self.auth(reference).await?)
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
        let auth = self.auth(reference).await?;
        let (manifest, manifest_digest) =
            fetch_manifest(&client, &target, reference, &auth, &what).await?;
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

/// Media types accepted for a manifest.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.index.v1+json";

/// `http` for a loopback registry, `https` for every other.
fn scheme_for(reference: &OciReference) -> &'static str {
    if reference.is_loopback_registry() {
        "http"
    } else {
        "https"
    }
}

/// A plain `reqwest` client with the registry client's timeouts.
fn http_client() -> anyhow::Result<reqwest::Client> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION")))
        // Credentials must not follow a redirect anywhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot set up the registry client")
}

/// Reads the registry's `/v2/` challenge, before credentials are sent, and
/// refuses a Bearer realm that [`check_realm`] refuses.
async fn check_challenge(reference: &OciReference) -> anyhow::Result<()> {
    let url = format!("{}://{}/v2/", scheme_for(reference), reference.registry());
    let response = http_client()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach the registry {}", reference.registry()))?;
    for challenge in response.headers().get_all(http::header::WWW_AUTHENTICATE) {
        let Ok(challenge) = challenge.to_str() else {
            continue;
        };
        if let Some(realm) = bearer_realm(challenge) {
            check_realm(reference.registry(), &realm).map_err(|reason| {
                anyhow!(
                    "not sending the credentials for {}: its token service `{realm}` {reason}",
                    reference.registry()
                )
            })?;
        }
    }
    Ok(())
}

/// The `realm` of a `Bearer` challenge.
fn bearer_realm(challenge: &str) -> Option<String> {
    let (scheme, params) = challenge.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    for param in params.split(',') {
        let (key, value) = param.trim().split_once('=')?;
        if key.trim().eq_ignore_ascii_case("realm") {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// The host of a `host[:port]` or `[v6]:port` registry name, lowercase.
fn host_of(authority: &str) -> String {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.to_ascii_lowercase()
}

/// Whether `host` is loopback (`localhost`, `127.0.0.0/8`, `::1`).
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The domain a host name belongs to for credentials: the host without its
/// first label when it has three or more (`registry-1.docker.io` and
/// `auth.docker.io` are both `docker.io`); IP addresses and two-label names
/// stand for themselves.
fn credential_domain(host: &str) -> &str {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host;
    }
    match host.split_once('.') {
        Some((_, rest)) if rest.contains('.') => rest,
        _ => host,
    }
}

/// Whether credentials for `registry` may go to the token service `realm`:
/// over HTTPS (plain HTTP only to loopback), to the registry's own host or
/// domain. `Err` says why not.
pub fn check_realm(registry: &str, realm: &str) -> Result<(), String> {
    let (scheme, rest) = realm
        .split_once("://")
        .ok_or_else(|| "is not an absolute URL".to_owned())?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let realm_host = host_of(authority);
    if realm_host.is_empty() {
        return Err("names no host".to_owned());
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if is_loopback(&realm_host) => {}
        "http" => return Err("is plain HTTP to a host that is not loopback".to_owned()),
        _ => return Err(format!("uses `{scheme}`, not HTTPS")),
    }
    let registry_host = host_of(registry);
    if realm_host == registry_host
        || credential_domain(&realm_host) == credential_domain(&registry_host)
    {
        Ok(())
    } else {
        Err(format!(
            "is on `{realm_host}`, outside the registry's host `{registry_host}`"
        ))
    }
}

/// The image manifest `target` names, at most [`MAX_MANIFEST_BYTES`], and
/// its digest (checked against the reference's digest when it pins one).
async fn fetch_manifest(
    client: &Client,
    target: &Reference,
    reference: &OciReference,
    auth: &RegistryAuth,
    what: &str,
) -> anyhow::Result<(OciImageManifest, String)> {
    // Runs the registry's token flow (stored in `client` for the layer
    // download too); a Bearer token comes back, Basic is sent as is.
    let token = client
        .auth(target, auth, RegistryOperation::Pull)
        .await
        .map_err(|e| explain(e, what))?;
    let name = target
        .digest()
        .map(str::to_owned)
        .or_else(|| target.tag().map(str::to_owned))
        .ok_or_else(|| anyhow!("{what} names neither a tag nor a digest"))?;
    let url = format!(
        "{}://{}/v2/{}/manifests/{name}",
        scheme_for(reference),
        target.resolve_registry(),
        target.repository()
    );
    let mut request = http_client()?
        .get(&url)
        .header(http::header::ACCEPT, MANIFEST_ACCEPT);
    request = match (token, auth) {
        (Some(token), _) => request.bearer_auth(token),
        (None, RegistryAuth::Basic(user, password)) => request.basic_auth(user, Some(password)),
        (None, _) => request,
    };
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the registry for {what}"))?;
    match response.status().as_u16() {
        200 => {}
        401 | 403 => bail!(
            "the registry denied access to {what} ({}); set {USER_ENV} and {PASSWORD_ENV}",
            response.status()
        ),
        404 => bail!("{what} was not found in the registry (no such repository, tag or digest)"),
        status => bail!("the registry refused the request for {what}: HTTP {status}"),
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_MANIFEST_BYTES as u64)
    {
        bail!("{what}: the manifest is larger than {MAX_MANIFEST_BYTES} bytes; refusing it");
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("cannot download the manifest of {what}"))?;
        if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
            bail!("{what}: the manifest is larger than {MAX_MANIFEST_BYTES} bytes; refusing it");
        }
        body.extend_from_slice(&chunk);
    }
    let digest = Digest::of(&body).to_string();
    if let Some(pinned) = target.digest()
        && pinned != digest
    {
        bail!(
            "digest mismatch for {what}: the registry sent a manifest that hashes to {digest}; refusing it (nothing was cached)"
        );
    }
    let value: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("{what}: the manifest is not JSON"))?;
    if value.get("manifests").is_some() {
        bail!("{what} is an image index (a multi-platform container image?), not a Wasm component");
    }
    let manifest: OciImageManifest = serde_json::from_value(value)
        .with_context(|| format!("{what}: the manifest is not an OCI image manifest"))?;
    Ok((manifest, digest))
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

#[cfg(test)]
mod realm_tests {
    use super::*;

    #[test]
    fn realms_on_the_registrys_domain_over_https_pass() {
        for (registry, realm) in [
            ("ghcr.io", "https://ghcr.io/token"),
            ("registry-1.docker.io", "https://auth.docker.io/token"),
            ("example.com:5000", "https://example.com/auth"),
            ("127.0.0.1:5000", "http://127.0.0.1:5001/token"),
            ("localhost:5000", "http://localhost/token"),
        ] {
            assert_eq!(check_realm(registry, realm), Ok(()), "{registry} {realm}");
        }
    }

    #[test]
    fn other_hosts_and_plain_http_are_refused() {
        for (registry, realm) in [
            ("ghcr.io", "http://ghcr.io/token"),
            ("ghcr.io", "https://evil.example/token"),
            ("registry.example.com", "https://auth.other.com/token"),
            ("127.0.0.1:5000", "http://127.0.0.2:80/token"),
            ("127.0.0.1:5000", "http://10.0.0.1/token"),
            ("example.com", "ftp://example.com/token"),
            ("example.com", "token"),
            ("example.com", "https://example.com@evil.example/token"),
        ] {
            assert!(check_realm(registry, realm).is_err(), "{registry} {realm}");
        }
    }

    #[test]
    fn bearer_challenges_name_their_realm() {
        assert_eq!(
            bearer_realm(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#
            )
            .as_deref(),
            Some("https://auth.docker.io/token")
        );
        assert_eq!(bearer_realm(r#"Basic realm="x""#), None);
    }

    #[test]
    fn credentials_belong_to_their_registry() {
        let bound = Credentials::new("u", "p").for_registry("ghcr.io");
        assert!(bound.belong_to("ghcr.io"));
        assert!(!bound.belong_to("evil.example"));
        assert!(Credentials::new("u", "p").belong_to("anything"));
    }
}
