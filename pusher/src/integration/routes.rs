//! The ready-made auth routes: which paths, checked once at setup so that no framework panics, shadows a
//! route or reads a path differently from the others.

use super::Authorizer;

/// One of the ready-made auth routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthRoute {
    /// Channel authorization (`/pusher/auth`).
    Channel,
    /// User authentication (`/pusher/user-auth`).
    User,
    /// Batch channel authorization.
    Batch,
}

impl AuthRoute {
    /// The setter of this route's path, for messages.
    fn setter(self) -> &'static str {
        match self {
            AuthRoute::Channel => "auth_path",
            AuthRoute::User => "user_auth_path",
            AuthRoute::Batch => "batch_auth_path",
        }
    }
}

/// Why the auth routes of an [`Authorizer`] cannot be registered. Returned by every framework's
/// `routes(..)` at setup, before the server starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// A path is not a plain absolute path.
    #[error(
        "pusher: Authorizer::{setter} is not a plain path such as `/pusher/auth` ({problem}): {path:?}"
    )]
    InvalidPath {
        /// The route.
        route: AuthRoute,
        /// The setter that set it (`auth_path`, `user_auth_path`, `batch_auth_path`).
        setter: &'static str,
        /// The path as configured.
        path: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Two routes have the same path.
    #[error("pusher: Authorizer::{first} and Authorizer::{second} are both {path:?}")]
    DuplicatePath {
        /// The setter of the first route.
        first: &'static str,
        /// The setter of the second route.
        second: &'static str,
        /// The shared path.
        path: String,
    },
}

/// Why `path` is not a plain path every framework reads the same way, if it is not.
fn path_problem(path: &str) -> Option<&'static str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Some("it must start with `/`");
    };
    if path.len() > 1024 {
        return Some("it is longer than 1024 bytes");
    }
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Some("it has an empty segment or a trailing `/`");
        }
        if segment == "." || segment == ".." {
            return Some("it has a `.` or `..` segment");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Some(
                "a segment has a character other than ASCII letters, digits, `-`, `.`, `_`, `~` \
                 (no placeholders, wildcards, percent-encoding or query)",
            );
        }
    }
    None
}

impl<U, S> Authorizer<U, S>
where
    U: Clone + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    /// The routes to register, each path with its route (the batch route only when configured), after
    /// checking that every path is a plain absolute path (`/` then segments of ASCII letters, digits, `-`,
    /// `.`, `_`, `~`; no empty, `.` or `..` segment, no trailing `/`) and that no two are equal.
    ///
    /// Integration glue: each framework's `routes(..)` calls it.
    ///
    /// ```
    /// use pusher::integration::{Authorizer, RouteError};
    /// let ok = Authorizer::<String>::new().batch_auth_path("/pusher/batch-auth");
    /// assert_eq!(ok.routes().unwrap().len(), 3);
    /// let bad = Authorizer::<String>::new().user_auth_path("/pusher/auth");
    /// assert!(matches!(bad.routes(), Err(RouteError::DuplicatePath { .. })));
    /// ```
    #[doc(hidden)]
    pub fn routes(&self) -> Result<Vec<(String, AuthRoute)>, RouteError> {
        let (channel, user, batch) = self.paths();
        let mut routes = vec![
            (channel.to_owned(), AuthRoute::Channel),
            (user.to_owned(), AuthRoute::User),
        ];
        routes.extend(batch.map(|p| (p.to_owned(), AuthRoute::Batch)));
        for (path, route) in &routes {
            if let Some(problem) = path_problem(path) {
                return Err(RouteError::InvalidPath {
                    route: *route,
                    setter: route.setter(),
                    path: path.clone(),
                    problem,
                });
            }
        }
        for (i, (path, route)) in routes.iter().enumerate() {
            if let Some((_, other)) = routes[i + 1..].iter().find(|(p, _)| p == path) {
                return Err(RouteError::DuplicatePath {
                    first: route.setter(),
                    second: other.setter(),
                    path: path.clone(),
                });
            }
        }
        Ok(routes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass_and_others_are_refused() {
        for ok in ["/pusher/auth", "/a", "/api/v1.2/pusher_auth~x"] {
            assert_eq!(path_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "pusher/auth",
            "/",
            "//pusher/auth",
            "/pusher/auth/",
            "/pusher/./auth",
            "/pusher/../auth",
            "/pusher/{id}",
            "/pusher/<id>",
            "/pusher/*rest",
            "/pusher/:id",
            "/pusher/%61uth",
            "/pusher/auth?x=1",
            "/pusher/auth#x",
            "/pusher/a uth",
            "/pusher/äuth",
        ] {
            assert!(path_problem(bad).is_some(), "{bad:?}");
        }
        assert!(path_problem(&format!("/{}", "a".repeat(1024))).is_some());
    }

    #[test]
    fn invalid_and_duplicate_paths_are_errors_naming_the_setter() {
        let e = Authorizer::<String>::new()
            .batch_auth_path("/pusher/{x}")
            .routes()
            .unwrap_err();
        assert!(
            matches!(
                &e,
                RouteError::InvalidPath {
                    route: AuthRoute::Batch,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("batch_auth_path"), "{e}");
        let e = Authorizer::<String>::new()
            .batch_auth_path("/pusher/user-auth")
            .routes()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "pusher: Authorizer::user_auth_path and Authorizer::batch_auth_path are both \
             \"/pusher/user-auth\""
        );
    }
}
