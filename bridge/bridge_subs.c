/* bridge_attempt_unsubscribe: the remote filters this bridge subscribed
 * upstream, kept as link records of its local session ('s' + filter), so
 * that the first connection of a run unsubscribes exactly the ones that
 * no `in`/`both` line asks for any more (a topic line changed before a
 * restart, with a persistent upstream session still holding it).
 *
 * mosquitto instead unsubscribes every out-only filter at each connection.
 * That is not harmless: ejabberd 23.01 drops a filter for *all* of its
 * subscribers when a client that never subscribed it unsubscribes it, so
 * the bridge's UNSUBSCRIBE of an out topic cut the cloud's own subscribers
 * off that topic. */

#include "alloc.h"
#include "bridge_priv.h"
#include "bridge_topic.h"
#include "broker.h"
#include "gw_bytes.h"
#include "log.h"
#include "persist.h"

#include <errno.h>
#include <string.h>

#define SUB_KEY     's'
#define SUB_KEY_MAX 503u /* persist_link_put's key limit */

/* Is filter f the remote filter of a current in/both line? */
static bool is_current(struct bridge *br, const uint8_t *f, size_t n)
{
    for (size_t i = 0; i < br->cfg.n_topics; i++) {
        const struct cfg_bridge_topic *t = &br->cfg.topics[i];
        ssize_t m;
        if (bridge_topic_is_in(t) &&
            (m = bridge_topic_remote_filter(t, br->topic_buf, BRIDGE_TOPIC_BUF)) >= 0 &&
            (size_t)m == n && memcmp(br->topic_buf, f, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Is key among the session's restored link records? */
static bool is_recorded(const struct sess *s, const uint8_t *key, size_t klen)
{
    const uint8_t *p = s->link_recs;
    size_t n = s->link_recs_len;
    size_t off = 0;
    while (n - off >= 6) {
        size_t kl = gw_be16(p + off);
        if (kl > n - off - 6) {
            return false;
        }
        size_t vl = gw_be32(p + off + 2 + kl);
        if (vl > n - off - 6 - kl) {
            return false;
        }
        if (kl == klen && memcmp(p + off + 2, key, klen) == 0) {
            return true;
        }
        off += 6 + kl + vl;
    }
    return false;
}

/* Append filter f to the UNSUBSCRIBE payload *list (be16 length + filter). */
static int append_filter(struct bridge *br, uint8_t **list, size_t *len, const uint8_t *f, size_t n)
{
    uint8_t *grown = gw_realloc(*list, *len + 2 + n);
    if (!grown) {
        return -ENOMEM;
    }
    *list = grown;
    gw_put_be16(grown + *len, (uint16_t)n);
    memcpy(grown + *len + 2, f, n);
    *len += 2 + n;
    char esc[256];
    gw_log_escape(esc, sizeof(esc), (const char *)f, n);
    gw_log(GW_NOTICE, "bridge",
           "%s: remote unsubscribe \"%s\": an earlier run subscribed it, no in line asks for "
           "it now",
           br->cfg.name, esc);
    return 0;
}

/* Append the stale recorded filters to *list (UNSUBSCRIBE payload: be16
 * length + filter, repeated) when want_list, and delete their records. */
static int drop_stale(struct bridge *br, bool want_list, uint8_t **list, size_t *len)
{
    struct sess *s = br->s;
    const uint8_t *p = s->link_recs;
    size_t n = s->link_recs_len;
    size_t off = 0;
    while (n - off >= 6) {
        size_t kl = gw_be16(p + off);
        if (kl > n - off - 6) {
            break; /* a damaged record set: keep what was read */
        }
        const uint8_t *key = p + off + 2;
        size_t vl = gw_be32(key + kl);
        if (vl > n - off - 6 - kl) {
            break;
        }
        off += 6 + kl + vl;
        if (kl < 2 || key[0] != SUB_KEY || is_current(br, key + 1, kl - 1)) {
            continue;
        }
        if (want_list && append_filter(br, list, len, key + 1, kl - 1) < 0) {
            return -ENOMEM;
        }
        persist_link_del(br->b, s, (struct gw_bytes){key, kl});
    }
    return 0;
}

/* Record every current in/both filter not recorded yet. */
static void record_current(struct bridge *br)
{
    uint8_t key[SUB_KEY_MAX];
    for (size_t i = 0; i < br->cfg.n_topics; i++) {
        const struct cfg_bridge_topic *t = &br->cfg.topics[i];
        ssize_t m;
        if (!bridge_topic_is_in(t) ||
            (m = bridge_topic_remote_filter(t, br->topic_buf, BRIDGE_TOPIC_BUF)) < 0 ||
            (size_t)m + 1u > sizeof(key)) {
            continue; /* a filter over 502 bytes is not recorded (never unsubscribed) */
        }
        key[0] = SUB_KEY;
        memcpy(key + 1, br->topic_buf, (size_t)m);
        if (!is_recorded(br->s, key, (size_t)m + 1u)) {
            uint8_t qos = t->qos;
            persist_link_put(br->b, br->s, (struct gw_bytes){key, (size_t)m + 1u},
                             (struct gw_bytes){&qos, 1});
        }
    }
}

int bridge_subs_reconcile(struct bridge *br, bool session_present, uint8_t **list, size_t *len)
{
    *list = NULL;
    *len = 0;
    if (br->subs_reconciled) {
        return 0; /* topic lines change only with a restart */
    }
    /* A new upstream session holds no subscription of ours: only the
     * records go. */
    int rc = drop_stale(br, session_present && br->cfg.attempt_unsubscribe, list, len);
    if (rc < 0) {
        gw_free(*list);
        *list = NULL;
        *len = 0;
        return rc;
    }
    record_current(br);
    (void)sess_set_link_recs(br->s, NULL, 0); /* read once; the store keeps them */
    br->subs_reconciled = true;
    return 0;
}
