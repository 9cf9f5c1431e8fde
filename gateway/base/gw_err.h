/* gw_err.h - Tern's one error space.
 *
 * 0 is success, negative is failure. OS and generic failures are -errno
 * (-EAGAIN, -ENOMEM, -ENOSPC); project codes sit in a reserved range below
 * them. MQTT / MQTT-SN reason codes are protocol data carried in structs and
 * are never returned through this space. */
#ifndef GW_ERR_H
#define GW_ERR_H

enum {
    GW_E_BASE       = -4000,
    GW_E_INCOMPLETE = -4001, /* codec needs more bytes */
    GW_E_MALFORMED  = -4002, /* bytes break a rule of the spec */
    GW_E_TOO_LARGE  = -4003, /* packet over the configured maximum */
    GW_E_PROTOCOL   = -4004, /* well-formed packet not allowed in this state */
    GW_E_CONFIG     = -4005, /* configuration rejected */
    GW_E_CLOSED     = -4006, /* peer closed the connection */
    GW_E_REFUSED    = -4007, /* refused by policy (limits, auth) */
    GW_E_TIMEOUT    = -4008, /* a protocol timer expired */
    GW_E_TAKEOVER   = -4009, /* another connection took the client id */
    GW_E_SLOW       = -4010, /* peer does not read: output over the hard cap */
    GW_E_SHUTDOWN   = -4011, /* broker stopping */
    GW_E_LAST       = -4012
};

/* Name an error of this space: a project code or -errno. Returns a static
 * string; never NULL. */
const char *gw_strerror(int err);

#endif
