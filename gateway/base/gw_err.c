/* gw_err.c - names for Tern's error space. */
#include "gw_err.h"

#include <string.h>

const char *gw_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case GW_E_INCOMPLETE:
        return "incomplete packet";
    case GW_E_MALFORMED:
        return "malformed packet";
    case GW_E_TOO_LARGE:
        return "packet too large";
    case GW_E_PROTOCOL:
        return "protocol error";
    case GW_E_CONFIG:
        return "configuration error";
    case GW_E_CLOSED:
        return "connection closed by peer";
    case GW_E_REFUSED:
        return "refused";
    case GW_E_TIMEOUT:
        return "timeout";
    case GW_E_TAKEOVER:
        return "session taken over";
    case GW_E_SLOW:
        return "output queue over hard limit";
    case GW_E_SHUTDOWN:
        return "broker shutting down";
    default:
        break;
    }
    if (err < 0 && err > GW_E_BASE) {
        return strerror(-err); /* NOLINT(concurrency-mt-unsafe): one thread */
    }
    return "unknown error";
}
