//! What the service tells its hook and its log: the outcome of each authentication
//! and login, and each [`AuthEvent`] (logged within the log's rate limit).

use super::TokenAuth;
use crate::events::{self, AuthEvent};
use crate::store::TokenStore;
use crate::user::UserDirectory;

impl<S: TokenStore, D: UserDirectory> TokenAuth<S, D> {
    /// Tells the hook how an authentication ended: for a token judged outside
    /// [`authenticate`](Self::authenticate), such as a request refused for carrying
    /// several `Authorization` headers.
    pub fn report_authentication(&self, outcome: crate::AuthOutcome) {
        if let Some(hook) = &self.hook {
            hook.on_authentication(outcome);
        }
    }

    /// Tells the hook how a login ended: for what [`obtain`](Self::obtain) does not see,
    /// such as a login refused by a throttle in front of it.
    pub fn report_login(&self, outcome: crate::LoginOutcome) {
        if let Some(hook) = &self.hook {
            hook.on_login(outcome);
        }
    }

    /// Reports a login refused by a throttle in front of [`obtain`](Self::obtain),
    /// from `ip`: a `throttled` login to the hook, and an
    /// [`AuthEvent::LoginThrottled`], logged within the log's rate limit.
    pub fn report_login_throttled(&self, ip: Option<std::net::IpAddr>) {
        self.report_login(crate::LoginOutcome::Throttled);
        self.emit(AuthEvent::LoginThrottled { ip });
    }

    /// Logs an event (within the log's rate limit) and passes it to the hook (always).
    pub(crate) fn emit(&self, event: AuthEvent) {
        if let Some(suppressed) = self.log_limiter.admit(&event, self.clock.now()) {
            events::trace(&event, suppressed);
        }
        if let Some(hook) = &self.hook {
            hook.on_event(&event);
        }
    }
}
