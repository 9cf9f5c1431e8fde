/* node_client.js URL VERSION ID - MQTT.js under node, over WebSockets
 * (roundtrip.js). Prints one JSON line of what it received; exits 0 on
 * success (once the connection is closed), 1 on an error, 2 when it took
 * longer than 30 s. */
'use strict';
const mqtt = require('mqtt');
const roundtrip = require('./roundtrip.js');

const [url, version, id] = process.argv.slice(2);
const timer = setTimeout(() => {
  console.error('node_client: no result within 30 s');
  process.exit(2);
}, 30000);
roundtrip(mqtt, url, Number(version), id, (err, result) => {
  clearTimeout(timer);
  if (err) {
    console.error('node_client: ' + err);
    process.exit(1);
  }
  console.log(JSON.stringify(result));
  process.exitCode = 0; /* node exits once the socket has closed */
});
