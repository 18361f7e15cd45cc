#!/usr/bin/env node
import "../dist/duende.js"
