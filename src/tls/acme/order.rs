//! One ACME conversation for one domain, start to finish: the account (made once, then
//! reused from the store), the order, the TLS-ALPN-01 challenge answered on our own port,
//! the CSR and the certificate chain. Its errors say what the CA said.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, Order, OrderStatus, Problem, RetryPolicy,
};

use super::challenge;
use super::client::UreqClient;
use super::store::Store;
use crate::tls::{AcmeSettings, Certs};

/// How the order's state is polled while the CA validates and then issues: a bounded wait,
/// since a CA that never answers must not hold the task forever.
const POLL: RetryPolicy = RetryPolicy::new()
    .initial_delay(Duration::from_millis(250))
    .backoff(1.5)
    .timeout(POLL_LIMIT);
const POLL_LIMIT: Duration = Duration::from_secs(120);

/// A new certificate chain and its private key, as PEM.
pub struct Obtained {
    pub chain: String,
    pub key: String,
}

/// Why an order failed, in words for the log.
#[derive(Debug)]
pub enum Failure {
    /// The CA's problem document (RFC 7807): a failed validation, a rate limit…
    Refused(Problem),
    /// Anything else: the CA unreachable, a file that cannot be written…
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused(problem) => {
                let detail = problem.detail.as_deref().unwrap_or("no detail given");
                let kind = problem.r#type.as_deref().unwrap_or("no problem type");
                write!(f, "{detail} ({kind})")?;
                for sub in &problem.subproblems {
                    let detail = sub.detail.as_deref().unwrap_or_default();
                    let kind = sub.r#type.as_deref().unwrap_or_default();
                    write!(f, "; {detail} ({kind})")?;
                }
                Ok(())
            }
            Failure::Other(reason) => f.write_str(reason),
        }
    }
}

impl From<instant_acme::Error> for Failure {
    fn from(err: instant_acme::Error) -> Failure {
        match err {
            instant_acme::Error::Api(problem) => Failure::Refused(problem),
            instant_acme::Error::Timeout(_) => Failure::Other(format!(
                "the CA did not finish the order within {} s",
                POLL_LIMIT.as_secs()
            )),
            err => Failure::Other(err.to_string()),
        }
    }
}

/// Everything one order needs.
pub struct Ca {
    pub settings: AcmeSettings,
    pub store: Store,
    pub http: UreqClient,
}

impl Ca {
    /// Orders a certificate for the domain, answering the challenge through `certs` while
    /// the order is open. The caller clears the challenge afterwards, whatever happened.
    pub async fn obtain(&self, certs: &Certs) -> Result<Obtained, Failure> {
        let account = self.account().await?;
        let identifiers = [Identifier::Dns(self.settings.domain.clone())];
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
        self.prove(&mut order, certs).await?;
        if order.poll_ready(&POLL).await? != OrderStatus::Ready {
            return Err(why_invalid(&mut order).await);
        }
        let key = order.finalize().await?;
        let chain = order.poll_certificate(&POLL).await?;
        Ok(Obtained { chain, key })
    }

    /// The stored account, or a new one (stored before it is used).
    async fn account(&self) -> Result<Account, Failure> {
        let builder = Account::builder_with_http(Box::new(self.http.clone()));
        let store = self.store.clone();
        if let Some(json) = blocking(move || store.account()).await? {
            let credentials: AccountCredentials = serde_json::from_str(&json).map_err(|err| {
                Failure::Other(format!("the stored ACME account is unreadable: {err}"))
            })?;
            return Ok(builder.from_credentials(credentials).await?);
        }
        let contact = self.settings.email.as_ref().map(|e| format!("mailto:{e}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let new = NewAccount {
            contact: &contacts,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let directory = self.settings.directory.clone();
        let (account, credentials) = builder.create(&new, directory, None).await?;
        let json = serde_json::to_string(&credentials)
            .map_err(|err| Failure::Other(format!("cannot encode the ACME account: {err}")))?;
        let store = self.store.clone();
        blocking(move || store.save_account(&json)).await?;
        log::info!("created an ACME account at {}", self.settings.directory);
        Ok(account)
    }

    /// Answers each authorization still pending by TLS-ALPN-01, and tells the CA to check.
    async fn prove(&self, order: &mut Order, certs: &Certs) -> Result<(), Failure> {
        let domain = &self.settings.domain;
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization?;
            match authorization.status {
                // Validated recently for this account: nothing to prove.
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                status => {
                    return Err(Failure::Other(format!(
                        "the CA's authorization for {domain} is {status:?}"
                    )))
                }
            }
            let mut challenge = authorization
                .challenge(ChallengeType::TlsAlpn01)
                .ok_or_else(|| {
                    Failure::Other(format!(
                        "the CA offers no TLS-ALPN-01 challenge for {domain}"
                    ))
                })?;
            let digest = challenge.key_authorization().digest();
            let key = challenge::certificate(domain, digest.as_ref()).map_err(Failure::Other)?;
            certs.set_challenge(Some((domain.clone(), Arc::new(key))));
            challenge.set_ready().await?;
        }
        Ok(())
    }
}

/// The CA's reason for an invalid order: the failed challenge's problem, which is where
/// RFC 8555 puts it ("connection refused", "incorrect certificate"…).
async fn why_invalid(order: &mut Order) -> Failure {
    if let Some(problem) = order.state().error.clone() {
        return Failure::Refused(problem);
    }
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        let Ok(state) = authorization.refresh().await else {
            continue;
        };
        if let Some(problem) = state.challenges.iter().find_map(|c| c.error.clone()) {
            return Failure::Refused(problem);
        }
    }
    Failure::Other("the CA marked the order invalid without saying why".into())
}

/// Runs file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| Failure::Other(err.to_string()))?
        .map_err(|err| Failure::Other(format!("cannot use the ACME folder: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_as_detail_and_type_with_its_subproblems() {
        let problem: Problem = serde_json::from_value(serde_json::json!({
            "type": "urn:ietf:params:acme:error:connection",
            "detail": "127.0.0.1: Connection refused",
            "status": 400,
            "subproblems": [{
                "type": "urn:ietf:params:acme:error:dns",
                "detail": "no A record",
                "identifier": {"type": "dns", "value": "chat.test"}
            }]
        }))
        .unwrap();
        assert_eq!(
            Failure::from(instant_acme::Error::Api(problem)).to_string(),
            "127.0.0.1: Connection refused (urn:ietf:params:acme:error:connection); \
             no A record (urn:ietf:params:acme:error:dns)"
        );
        let timeout = Failure::from(instant_acme::Error::Timeout(None)).to_string();
        assert_eq!(timeout, "the CA did not finish the order within 120 s");
    }
}
