console.log('istiod');
