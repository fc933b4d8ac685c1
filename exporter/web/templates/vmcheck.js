// vmcheck status page: show times relative to now, and mark the page as
// rendered by a browser (the Chromium test looks for data-js="ok").
(function(){
  function ago(s){
    var d=Math.round(Date.now()/1000-s), a=Math.abs(d), t;
    if(a<60)t=a+"s";else if(a<3600)t=Math.floor(a/60)+"m "+(a%60)+"s";
    else if(a<86400)t=Math.floor(a/3600)+"h "+Math.floor(a%3600/60)+"m";
    else t=Math.floor(a/86400)+"d "+Math.floor(a%86400/3600)+"h";
    return d>=0?t+" ago":"in "+t;
  }
  var ts=document.querySelectorAll("time[data-ts]");
  for(var i=0;i<ts.length;i++){
    var el=ts[i], s=parseFloat(el.getAttribute("data-ts"));
    if(!isNaN(s)&&s>0){el.title=new Date(s*1000).toISOString();el.textContent=ago(s);}
  }
  document.body.setAttribute("data-js","ok");
})();
