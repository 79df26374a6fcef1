console.log('waypoint');
