console.log('ztunnel');
