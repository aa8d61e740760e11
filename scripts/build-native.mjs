// placeholder: replaced by the native addon work
console.log('epdma: native addon not built yet (pure-JS path in use)');
