#!/usr/bin/env node
'use strict';
// A microgpt backend in JavaScript, speaking the spec's wire protocol on stdin/stdout.
// Start reading at backend.js (the contract's methods); protocol.js carries them over the wire.
// The backend is named after its folder.
const path = require('path');
const { Backend } = require('./backend');
const { run } = require('./protocol');

run(new Backend(), {
  name: path.basename(__dirname), version: '1.0', precision: 'float64', protocol: 3, methods: Backend.pythonMethods,
});
