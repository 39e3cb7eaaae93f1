//! HTTPS: a private CA is trusted when configured and refused with `Error::Tls` otherwise.

use arcgis::{Error, Portal};
use portal_sim::SimConfig;

use crate::{config_for, sim};

#[tokio::test]
async fn extra_ca_is_trusted_and_without_it_the_certificate_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pem_path = dir.path().join("sim-ca.pem");
    let sim = sim(SimConfig { tls: true, tls_cert_out: Some(pem_path.clone()), ..SimConfig::default() }).await;
    assert!(sim.orgs[0].portal_url.starts_with("https://"), "the TLS sim serves https");

    let err =
        Portal::connect(config_for(&sim, 0, &sim.orgs[0].admin)).await.expect_err("an unknown CA must be refused");
    assert!(matches!(err, Error::Tls { .. }), "an untrusted certificate must be Error::Tls, got {err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("certificate") && msg.contains("refused") && msg.contains("CA certificate"),
        "the message must say the certificate was refused and how to fix it: {msg}"
    );

    let mut cfg = config_for(&sim, 0, &sim.orgs[0].admin);
    cfg.tls.extra_ca_pem = Some(std::fs::read_to_string(&pem_path).expect("the sim wrote its certificate"));
    let portal = Portal::connect(cfg).await.expect("with the CA trusted the portal connects");
    assert_eq!(portal.org_id(), sim.orgs[0].id);

    let mut cfg = config_for(&sim, 0, &sim.orgs[0].admin);
    cfg.tls.accept_invalid_certs = true;
    Portal::connect(cfg).await.expect("accepting any certificate (lab setups) connects without the CA");

    let mut cfg = config_for(&sim, 0, &sim.orgs[0].admin);
    cfg.tls.extra_ca_pem = Some("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".into());
    let err = Portal::connect(cfg).await.expect_err("a broken PEM must be refused up front");
    assert!(matches!(err, Error::Config { .. }), "a broken CA file is a settings error, got {err:?}");
}
