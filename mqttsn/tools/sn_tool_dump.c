/* sn_tool_dump.c - the -d packet dump of the MQTT-SN field tools: one line
 * naming the message and its decoded fields, then the datagram in hex. */
#include "sn_tool.h"

#include <stdio.h>

#define TEXT_MAX 64u   /* characters of a string or payload shown in the line */
#define HEX_MAX  1024u /* bytes of a datagram shown in hex */

/* Print b as a quoted string, escaping what is not printable ASCII. */
static void put_text(FILE *f, struct gw_bytes b)
{
    (void)fputc('"', f);
    for (size_t i = 0; i < b.n && i < TEXT_MAX; i++) {
        uint8_t c = b.p[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            (void)fputc(c, f);
        } else {
            (void)fprintf(f, "\\x%02x", c);
        }
    }
    (void)fputc('"', f);
    if (b.n > TEXT_MAX) {
        (void)fprintf(f, "...(%zu bytes)", b.n);
    }
}

static void put_flags(FILE *f, const struct sn_flags *fl)
{
    static const char *const types[] = {"normal", "predefined", "short", "reserved"};
    (void)fprintf(f, " qos=%d dup=%d retain=%d topic_type=%s", fl->qos, fl->dup, fl->retain,
                  types[fl->topic_type & 3]);
}

static void put_topic(FILE *f, uint8_t topic_type, uint16_t topic_id, const uint8_t sn[2])
{
    if (topic_type == SN_TOPIC_SHORT) {
        put_text(f, (struct gw_bytes){sn, 2});
        return;
    }
    (void)fprintf(f, "%u", topic_id);
}

static void put_publish(FILE *f, const struct sn_publish *p)
{
    put_flags(f, &p->flags);
    (void)fputs(" topic=", f);
    put_topic(f, p->flags.topic_type, p->topic_id, p->short_name);
    (void)fprintf(f, " msg_id=%u data=", p->msg_id);
    put_text(f, p->data);
}

static void put_subscribe(FILE *f, const struct sn_msg *m)
{
    const struct sn_subscribe *s = &m->u.subscribe;
    if (m->type == SN_SUBSCRIBE) {
        put_flags(f, &s->flags);
    }
    (void)fprintf(f, " msg_id=%u topic=", s->msg_id);
    if (s->flags.topic_type == SN_TOPIC_NORMAL) {
        put_text(f, s->topic_name);
    } else {
        put_topic(f, s->flags.topic_type, s->topic_id, s->short_name);
    }
}

static void put_fields(FILE *f, const struct sn_msg *m)
{
    switch (m->type) {
    case SN_ADVERTISE:
        (void)fprintf(f, " gw_id=%u duration=%u", m->u.advertise.gw_id, m->u.advertise.duration_s);
        break;
    case SN_SEARCHGW:
        (void)fprintf(f, " radius=%u", m->u.radius);
        break;
    case SN_GWINFO:
        (void)fprintf(f, " gw_id=%u gw_addr_len=%zu", m->u.gwinfo.gw_id, m->u.gwinfo.gw_addr.n);
        break;
    case SN_CONNECT:
        (void)fprintf(f, " clean=%d will=%d duration=%u client_id=", m->u.connect.flags.clean,
                      m->u.connect.flags.will, m->u.connect.duration_s);
        put_text(f, m->u.connect.client_id);
        break;
    case SN_CONNACK:
    case SN_WILLTOPICRESP:
    case SN_WILLMSGRESP:
        (void)fprintf(f, " rc=%u (%s)", m->u.rc, sn_rc_name(m->u.rc));
        break;
    case SN_WILLTOPIC:
    case SN_WILLTOPICUPD:
        (void)fprintf(f, " qos=%d retain=%d topic=", m->u.will_topic.flags.qos,
                      m->u.will_topic.flags.retain);
        put_text(f, m->u.will_topic.topic);
        break;
    case SN_WILLMSG:
    case SN_WILLMSGUPD:
        (void)fputs(" data=", f);
        put_text(f, m->u.will_msg);
        break;
    case SN_REGISTER:
        (void)fprintf(f, " topic_id=%u msg_id=%u topic=", m->u.reg.topic_id, m->u.reg.msg_id);
        put_text(f, m->u.reg.topic);
        break;
    case SN_REGACK:
    case SN_PUBACK:
        (void)fprintf(f, " topic_id=%u msg_id=%u rc=%u (%s)", m->u.topic_ack.topic_id,
                      m->u.topic_ack.msg_id, m->u.topic_ack.rc, sn_rc_name(m->u.topic_ack.rc));
        break;
    case SN_PUBLISH:
        put_publish(f, &m->u.publish);
        break;
    case SN_PUBCOMP:
    case SN_PUBREC:
    case SN_PUBREL:
    case SN_UNSUBACK:
        (void)fprintf(f, " msg_id=%u", m->u.msg_id);
        break;
    case SN_SUBSCRIBE:
    case SN_UNSUBSCRIBE:
        put_subscribe(f, m);
        break;
    case SN_SUBACK:
        (void)fprintf(f, " qos=%d topic_id=%u msg_id=%u rc=%u (%s)", m->u.suback.flags.qos,
                      m->u.suback.topic_id, m->u.suback.msg_id, m->u.suback.rc,
                      sn_rc_name(m->u.suback.rc));
        break;
    case SN_PINGREQ:
        if (m->u.client_id.n) {
            (void)fputs(" client_id=", f);
            put_text(f, m->u.client_id);
        }
        break;
    case SN_DISCONNECT:
        if (m->u.disconnect.has_duration) {
            (void)fprintf(f, " duration=%u", m->u.disconnect.duration_s);
        }
        break;
    default: /* WILLTOPICREQ, WILLMSGREQ, PINGRESP: no body */
        break;
    }
}

void sn_tool_dump(const struct sn_tool *t, const char *dir, const uint8_t *p, size_t n,
                  const struct sn_msg *m)
{
    FILE *f = stderr;
    (void)fprintf(f, "%s: %s", t->prog, dir);
    struct sn_msg outer;
    if (m && sn_decode(p, n, &outer) > 0 && outer.type == SN_ENCAPSULATED) {
        (void)fprintf(f, " ENCAPSULATED radius=%u node_id=", outer.u.encap.radius);
        put_text(f, outer.u.encap.node_id);
        (void)fputs(" |", f);
    }
    if (m) {
        (void)fprintf(f, " %s", sn_type_name(m->type));
        put_fields(f, m);
    }
    (void)fprintf(f, " (%zu bytes)\n", n);
    for (size_t i = 0; i < n && i < HEX_MAX; i += 16) {
        (void)fputs("    ", f);
        for (size_t j = i; j < n && j < i + 16; j++) {
            (void)fprintf(f, " %02x", p[j]);
        }
        (void)fputc('\n', f);
    }
    if (n > HEX_MAX) {
        (void)fprintf(f, "     ... %zu more bytes\n", n - HEX_MAX);
    }
    (void)fflush(f);
}
