/* roundtrip.js - one MQTT.js client's part of Tern's WebSocket tests, the
 * same in node (require) and in the browser (the page loads MQTT.js's
 * browser bundle, then this file).
 *
 * Over ws:// (or wss://) it subscribes to web/in/ID/#, says "ready" on
 * web/report/ID/ready, and waits for the test's message on web/in/ID.
 * It answers on web/report/ID/got with JSON of what it received; with
 * MQTT 5 it first publishes to itself with user properties and reports
 * the properties it got back too. Errors are reported on
 * web/report/ID/error when the connection allows, and returned to done. */
(function (root) {
  function roundtrip(mqtt, url, version, id, done) {
    var base = 'web/in/' + id;
    var report = 'web/report/' + id;
    var client = mqtt.connect(url, {
      protocolVersion: version,
      clientId: 'mqttjs-' + id,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 10000,
    });
    var got = null;
    var finished = false;
    function finish(err, result) {
      if (finished) return;
      finished = true;
      var topic = report + (err ? '/error' : '/got');
      var body = err ? String(err) : JSON.stringify(result);
      client.publish(topic, body, { qos: 1 }, function () {
        client.end(false, {}, function () { done(err, result); });
      });
    }
    client.on('error', function (e) { finish(e); });
    client.on('connect', function () {
      client.subscribe(base + '/#', { qos: 1 }, function (err) {
        if (err) return finish(err);
        client.subscribe(base, { qos: 1 }, function (err2) {
          if (err2) return finish(err2);
          client.publish(report + '/ready', 'ready', { qos: 1 });
        });
      });
    });
    client.on('message', function (topic, payload, packet) {
      if (topic === base && !got) {
        got = { topic: topic, payload: payload.toString(), qos: packet.qos, version: version };
        if (version !== 5) return finish(null, got);
        client.publish(base + '/self', 'props', {
          qos: 1,
          properties: { userProperties: { from: 'mqttjs' }, contentType: 'text/plain' },
        });
      } else if (topic === base + '/self' && got) {
        var p = packet.properties || {};
        got.self_props = { userProperties: p.userProperties, contentType: p.contentType };
        finish(null, got);
      }
    });
  }
  if (typeof module !== 'undefined' && module.exports) {
    module.exports = roundtrip;
  } else {
    root.roundtrip = roundtrip;
  }
})(this);
