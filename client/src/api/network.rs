//! Reading reqwest's failures: what one says to a person ([`without_url`], the server's
//! address left out), and whether a request's connection was closed under it before any
//! answer ([`closed_under_it`]), which makes a read worth sending once more.

/// Whether `e` is a connection reset or closed by the other side before an answer came,
/// not a failure to connect (the server down, which is not worth a second try at once).
pub(super) fn closed_under_it(e: &reqwest::Error) -> bool {
    if e.is_connect() || e.is_timeout() {
        return false;
    }
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(now) = cause {
        // Closed with nothing said (a FIN where the answer should be).
        if now
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return true;
        }
        // Closed with a reset, or while the request was still going out.
        if let Some(io) = now.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        cause = now.source();
    }
    false
}

/// What went wrong with a request, for people: the innermost cause ("Connection refused"),
/// or the error itself ("operation timed out").
pub(super) fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".to_owned();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    match e.url() {
        Some(url) => text.replace(url.as_str(), "the server"),
        None => text,
    }
}
