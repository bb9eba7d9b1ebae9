//! A Lambda function's credentials: the environment's keys (the execution role's) first, the rest
//! of the SDK's default chain built only when they are missing. One test: it changes process-wide
//! environment variables.

use aws_credential_types::provider::ProvideCredentials;
use flagtrail_runtime::sdk::default_chains_built;
use flagtrail_runtime::SdkSettings;

async fn loaded_keys(settings: SdkSettings) -> (String, String) {
    let sdk = settings.load().await;
    let creds =
        sdk.credentials_provider().expect("a credentials provider").provide_credentials().await.expect("credentials");
    (creds.access_key_id().to_owned(), creds.session_token().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_function_uses_the_environment_keys_and_builds_the_rest_of_the_chain_only_without_them() {
    let dir = std::env::temp_dir().join(format!("flagtrail-credentials-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shared = dir.join("credentials");
    std::fs::write(&shared, "[default]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = s\n").unwrap();
    std::fs::write(dir.join("config"), "").unwrap();
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &shared);
    std::env::set_var("AWS_CONFIG_FILE", dir.join("config"));
    std::env::set_var("AWS_REGION", "eu-west-1");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    for v in [
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ] {
        std::env::remove_var(v);
    }

    // As in Lambda: the execution role's keys in the reserved variables win over a profile, and
    // the rest of the default chain (with its STS client) is never built.
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDFROMENV");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "s");
    std::env::set_var("AWS_SESSION_TOKEN", "token-from-env");
    assert_eq!(loaded_keys(SdkSettings::lambda()).await, ("AKIDFROMENV".to_owned(), "token-from-env".to_owned()));
    assert_eq!(default_chains_built(), 0, "the default chain is not built when the environment has the keys");

    // No keys in the environment: the rest of the default chain (here the shared credentials
    // file) still answers, built now.
    for v in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
        std::env::remove_var(v);
    }
    assert_eq!(loaded_keys(SdkSettings::lambda()).await, ("AKIDFROMPROFILE".to_owned(), String::new()));
    assert_eq!(default_chains_built(), 1);
    // Outside Lambda the chain is aws-config's own, untouched.
    assert_eq!(loaded_keys(SdkSettings::default()).await, ("AKIDFROMPROFILE".to_owned(), String::new()));
    assert_eq!(default_chains_built(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
