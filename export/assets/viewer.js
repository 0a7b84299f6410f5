(function(){document.body.setAttribute("data-ctrace-ready","1");})();
