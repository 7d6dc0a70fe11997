#!/usr/bin/env node
'use strict';
// The js backend: microgpt in JavaScript, speaking the spec's wire protocol on stdin/stdout.
// Start here: backend.js holds the contract's methods; protocol.js carries them over the wire.
const { Backend } = require('./backend');
const { run } = require('./protocol');

run(new Backend(), { name: 'js', version: '1.0', precision: 'float64', protocol: 3, methods: Backend.pythonMethods });
