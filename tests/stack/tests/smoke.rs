//! Smoke tests: each proves that one part of the local stack is the real thing.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams,
    PostParams,
};
use kube::core::GroupVersionKind;
use kubectl_release_stack::{Stack, eventually, unique_name};
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client as OciClient, Reference};
use serde_json::json;
use sha2::{Digest, Sha256};

const WAIT: Duration = Duration::from_secs(90);

fn config_map(name: &str, owner: Option<OwnerReference>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        data: Some([("k".to_owned(), "v".to_owned())].into()),
        ..Default::default()
    }
}

async fn gone<K>(api: &Api<K>, name: &str) -> Result<Option<()>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get_opt(name).await? {
        None => Ok(Some(())),
        Some(_) => Ok(None),
    }
}

#[tokio::test]
async fn namespace_controller_finalizes_deleted_namespace() -> Result<()> {
    let stack = Stack::shared();
    let client = stack.admin().await?;
    let name = unique_name("smoke-nsdel");
    let namespaces = Api::<Namespace>::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await?;
    Api::<ConfigMap>::namespaced(client.clone(), &name)
        .create(&PostParams::default(), &config_map("content", None))
        .await?;
    namespaces.delete(&name, &DeleteParams::default()).await?;
    // The apiserver only marks it Terminating; only the namespace controller empties it and
    // removes the `kubernetes` finalizer.
    let ns = namespaces.get(&name).await?;
    assert!(
        ns.metadata.deletion_timestamp.is_some(),
        "namespace deletion should be pending"
    );
    eventually("namespace to be finalized and removed", WAIT, || {
        gone(&namespaces, &name)
    })
    .await
}

#[tokio::test]
async fn garbage_collector_deletes_dependents() -> Result<()> {
    let stack = Stack::shared();
    let ns = stack.namespace("smoke-gc").await?;
    let cms = Api::<ConfigMap>::namespaced(stack.admin().await?, &ns);
    let owner = cms
        .create(&PostParams::default(), &config_map("owner", None))
        .await?;
    let owner_ref = OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: "owner".into(),
        uid: owner.metadata.uid.clone().context("owner has no uid")?,
        ..Default::default()
    };
    cms.create(
        &PostParams::default(),
        &config_map("dependent", Some(owner_ref)),
    )
    .await?;
    // A bystander without an owner must survive, so "gone" cannot come from namespace cleanup.
    cms.create(&PostParams::default(), &config_map("bystander", None))
        .await?;
    cms.delete("owner", &DeleteParams::background()).await?;
    eventually("dependent to be garbage-collected", WAIT, || {
        gone(&cms, "dependent")
    })
    .await?;
    assert!(cms.get_opt("bystander").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn unprivileged_user_is_forbidden_cluster_wide() -> Result<()> {
    let stack = Stack::shared();
    let ns = stack.namespace("smoke-rbac").await?;
    let tester = stack.tester().await?;
    // Allowed where it is bound to `edit`: proves the credentials authenticate, so the 403 below
    // is RBAC and not a bad certificate.
    Api::<ConfigMap>::namespaced(tester.clone(), &ns)
        .create(&PostParams::default(), &config_map("mine", None))
        .await
        .context("tester should be able to create a ConfigMap in its namespace")?;
    match Api::<Secret>::all(tester.clone())
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => bail!("listing secrets cluster-wide should be forbidden, got {other:?}"),
    }
    match Api::<ConfigMap>::namespaced(tester, "kube-system")
        .list(&ListParams::default())
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
        other => bail!("listing ConfigMaps in kube-system should be forbidden, got {other:?}"),
    }
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn condition(obj: &DynamicObject, type_: &str) -> Option<(String, String)> {
    obj.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

#[tokio::test]
async fn tekton_creates_customrun_and_completes_pipelinerun() -> Result<()> {
    let stack = Stack::shared();
    let ns = stack.namespace("smoke-tekton").await?;
    let client = stack.admin().await?;
    let pipelineruns = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &ns,
        &resource("tekton.dev", "v1", "PipelineRun", "pipelineruns"),
    );
    let customruns = Api::<DynamicObject>::namespaced_with(
        client,
        &ns,
        &resource("tekton.dev", "v1beta1", "CustomRun", "customruns"),
    );
    let marker = unique_name("m");
    let pr: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": "smoke", "labels": {"smoke.kubectl-release.dev/marker": marker}},
        "spec": {"pipelineSpec": {"tasks": [{
            "name": "custom",
            "taskRef": {"apiVersion": "example.dev/v1alpha1", "kind": "Example"}
        }]}}
    }))?;
    pipelineruns.create(&PostParams::default(), &pr).await?;

    let run = eventually("Tekton to create the CustomRun", WAIT, || async {
        let list = customruns
            .list(&ListParams::default().labels("tekton.dev/pipelineRun=smoke"))
            .await?;
        Ok(list.items.into_iter().next())
    })
    .await?;
    let labels = run.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("smoke.kubectl-release.dev/marker")
            .map(String::as_str),
        Some(marker.as_str()),
        "CustomRun should carry the PipelineRun's labels: {labels:?}"
    );
    assert_eq!(run.data["spec"]["customRef"]["kind"], "Example");
    let run_name = run
        .metadata
        .name
        .clone()
        .context("CustomRun without name")?;

    // The status update that records the CustomRun may land just after the CustomRun itself.
    let status = eventually(
        "PipelineRun to report its Succeeded condition",
        WAIT,
        || async { Ok(condition(&pipelineruns.get("smoke").await?, "Succeeded").map(|(s, _)| s)) },
    )
    .await?;
    assert_eq!(
        status, "Unknown",
        "PipelineRun must wait for the custom task"
    );

    let now = "2026-01-01T00:00:00Z";
    customruns
        .patch_status(
            &run_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "startTime": now,
                "completionTime": now,
                "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded",
                                "lastTransitionTime": now}]
            }})),
        )
        .await?;
    eventually("PipelineRun to succeed", WAIT, || async {
        let pr = pipelineruns.get("smoke").await?;
        match condition(&pr, "Succeeded") {
            Some((s, _)) if s == "True" => Ok(Some(())),
            Some((s, m)) if s == "False" => bail!("PipelineRun failed: {m}"),
            _ => Ok(None),
        }
    })
    .await
}

fn oci_client() -> OciClient {
    OciClient::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    })
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn flux_content() -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-flux\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, "manifests/configmap.yaml", &body[..])?;
    Ok(tar.into_inner()?.finish()?)
}

/// Pushes a Flux artifact (as `flux push artifact` makes it) and returns its manifest digest.
async fn push_flux_artifact(reference: &Reference) -> Result<String> {
    let content = flux_content()?;
    let layer = ImageLayer::new(
        content,
        "application/vnd.cncf.flux.content.v1.tar+gzip".into(),
        None,
    );
    let config = Config::new(
        b"{}".to_vec(),
        "application/vnd.cncf.flux.config.v1+json".into(),
        None,
    );
    let mut manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, None);
    manifest.annotations = Some(
        [
            ("org.opencontainers.image.created", "2026-01-01T00:00:00Z"),
            (
                "org.opencontainers.image.source",
                "https://example.invalid/kubectl-release",
            ),
            ("org.opencontainers.image.revision", "main@sha1:0123456789"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    );
    let client = oci_client();
    client
        .push(
            reference,
            &[layer],
            config,
            &RegistryAuth::Anonymous,
            Some(manifest),
        )
        .await?;
    Ok(client
        .fetch_manifest_digest(reference, &RegistryAuth::Anonymous)
        .await?)
}

#[tokio::test]
async fn source_controller_pulls_flux_artifact() -> Result<()> {
    let stack = Stack::shared();
    let ns = stack.namespace("smoke-flux").await?;
    let repo = unique_name("flux");
    let reference: Reference = format!("{}/{repo}:v1", stack.registry()).parse()?;
    let digest = push_flux_artifact(&reference).await?;

    let ocirepos = Api::<DynamicObject>::namespaced_with(
        stack.admin().await?,
        &ns,
        &resource(
            "source.toolkit.fluxcd.io",
            "v1",
            "OCIRepository",
            "ocirepositories",
        ),
    );
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "smoke"},
        "spec": {
            "url": format!("oci://{}/{repo}", stack.registry()),
            "ref": {"tag": "v1"},
            "interval": "10m",
            "insecure": true
        }
    }))?;
    ocirepos.create(&PostParams::default(), &obj).await?;
    let repo_obj = eventually("OCIRepository to become Ready", WAIT, || async {
        let o = ocirepos.get("smoke").await?;
        match condition(&o, "Ready") {
            Some((s, _)) if s == "True" => Ok(Some(o)),
            Some((_, m)) => bail!("not ready yet: {m}"),
            None => Ok(None),
        }
    })
    .await?;
    let artifact = &repo_obj.data["status"]["artifact"];
    assert_eq!(artifact["revision"], format!("v1@{digest}"));
    let url = artifact["url"].as_str().context("artifact without url")?;
    assert!(
        url.starts_with(&format!("http://{}/", stack.source_controller())),
        "artifact URL {url} should be served by the source-controller storage"
    );
    Ok(())
}

#[tokio::test]
async fn registry_round_trips_blobs_and_manifests() -> Result<()> {
    let stack = Stack::shared();
    let client = oci_client();
    let reference: Reference = format!("{}/{}:rt", stack.registry(), unique_name("rt")).parse()?;
    let blob = b"round trip blob".to_vec();
    let layer = ImageLayer::new(blob.clone(), "application/octet-stream".into(), None);
    let config = Config::new(
        br#"{"k":"v"}"#.to_vec(),
        "application/vnd.kubectl-release.test.config.v1+json".into(),
        None,
    );
    let manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, None);
    client
        .push(
            &reference,
            &[layer],
            config,
            &RegistryAuth::Anonymous,
            Some(manifest.clone()),
        )
        .await?;

    let (raw, digest) = client
        .pull_manifest_raw(
            &reference,
            &RegistryAuth::Anonymous,
            &["application/vnd.oci.image.manifest.v1+json"],
        )
        .await?;
    assert_eq!(digest, sha256(&raw), "manifest digest must match its bytes");
    let (pulled, _) = client
        .pull_manifest(&reference, &RegistryAuth::Anonymous)
        .await?;
    let OciManifest::Image(pulled) = pulled else {
        bail!("expected an image manifest, got {pulled:?}")
    };
    assert_eq!(
        serde_json::to_value(&pulled.layers)?,
        serde_json::to_value(&manifest.layers)?
    );
    assert_eq!(
        serde_json::to_value(&pulled.config)?,
        serde_json::to_value(&manifest.config)?
    );
    let mut out = Vec::new();
    client
        .pull_blob(&reference, &pulled.layers[0], &mut out)
        .await?;
    assert_eq!(out, blob);
    assert_eq!(pulled.layers[0].digest, sha256(&blob));
    Ok(())
}

#[tokio::test]
async fn auth_registry_requires_the_test_user() -> Result<()> {
    let stack = Stack::shared();
    let auth = stack.auth_registry();
    let reference: Reference = format!("{}/{}:a", auth.address, unique_name("auth")).parse()?;
    let layer = ImageLayer::new(b"secret".to_vec(), "application/octet-stream".into(), None);
    let config = Config::new(
        b"{}".to_vec(),
        "application/vnd.oci.empty.v1+json".into(),
        None,
    );

    let anonymous = oci_client()
        .push(
            &reference,
            std::slice::from_ref(&layer),
            config.clone(),
            &RegistryAuth::Anonymous,
            None,
        )
        .await;
    assert!(
        anonymous.is_err(),
        "anonymous push to the htpasswd registry must fail"
    );
    let wrong = RegistryAuth::Basic(auth.username.clone(), "wrong".into());
    assert!(
        oci_client()
            .push(
                &reference,
                std::slice::from_ref(&layer),
                config.clone(),
                &wrong,
                None
            )
            .await
            .is_err(),
        "a wrong password must be rejected"
    );
    let basic = RegistryAuth::Basic(auth.username.clone(), auth.password.clone());
    let client = oci_client();
    client
        .push(&reference, &[layer], config, &basic, None)
        .await?;
    client.fetch_manifest_digest(&reference, &basic).await?;
    let creds = std::fs::read_to_string(&auth.credentials_file)?;
    assert_eq!(creds.trim(), format!("{}:{}", auth.username, auth.password));
    Ok(())
}
