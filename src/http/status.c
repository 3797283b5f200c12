/*
 * status.c — status codes' reason phrases (http.StatusText) and the
 * layer's error texts for goc_strerror.
 */
#include "http/http.h"

GOC_API const char *goc_http_status_text(int code)
{
    switch (code) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 102:
        return "Processing";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 207:
        return "Multi-Status";
    case 208:
        return "Already Reported";
    case 226:
        return "IM Used";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 305:
        return "Use Proxy";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Request Entity Too Large";
    case 414:
        return "Request URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Requested Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 418:
        return "I'm a teapot";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Entity";
    case 423:
        return "Locked";
    case 424:
        return "Failed Dependency";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 506:
        return "Variant Also Negotiates";
    case 507:
        return "Insufficient Storage";
    case 508:
        return "Loop Detected";
    case 510:
        return "Not Extended";
    case 511:
        return "Network Authentication Required";
    default:
        return "";
    }
}

static const char *http_strerror(int err)
{
    switch (err) {
    case GOC_EHTTP_BODY_TOO_LARGE:
        return "http: request body too large";
    case GOC_EHTTP_CONTENT_LENGTH:
        return "http: wrote more than the declared Content-Length";
    case GOC_EHTTP_BODY_NOT_ALLOWED:
        return "http: request method or response status code does not allow body";
    case GOC_EHTTP_HIJACKED:
        return "http: connection has been hijacked";
    case GOC_EHTTP_HANDLER_TIMEOUT:
        return "http: Handler timeout";
    case GOC_EHTTP_SERVER_CLOSED:
        return "http: Server closed";
    case GOC_EHTTP_PATTERN_CONFLICT:
        return "http: pattern conflicts with a registered pattern";
    case GOC_EHTTP_BAD_PATTERN:
        return "http: invalid pattern";
    case GOC_EHTTP_MALFORMED:
        return "http: malformed message";
    case GOC_EHTTP_TOO_MANY_REDIRECTS:
        return "http: stopped after too many redirects";
    case GOC_EHTTP_UNEXPECTED_EOF:
        return "http: unexpected EOF";
    case GOC_EHTTP_HEADER_TOO_LARGE:
        return "http: server response headers exceeded the limit";
    case GOC_EHTTP_UNSUPPORTED_SCHEME:
        return "http: unsupported protocol scheme";
    case GOC_EHTTP_PROXY:
        return "http: the proxy refused the tunnel";
    case GOC_EHTTP_USE_LAST_RESPONSE:
        return "http: use last response";
    case GOC_EHTTP_BODY_NOT_REPLAYABLE:
        return "http: the request body cannot be sent again";
    default:
        return "unknown http error";
    }
}

/* Before main: goc_strerror may be asked about a code before any call. */
__attribute__((constructor)) static void register_texts(void)
{
    goc__errtext_register(GOC_EHTTP_BODY_NOT_REPLAYABLE, GOC_EHTTP_BODY_TOO_LARGE, http_strerror);
}
