(function(){'use strict';
var D=JSON.parse(document.getElementById('ctrace-data').textContent);
function fmt(ns){var u=[[1e9,' s'],[1e6,' ms'],[1e3,' us']];for(var i=0;i<u.length;i++){if(ns>=u[i][0]){var v=ns/u[i][0];return (v>=100?v.toFixed(0):v>=10?v.toFixed(1):v.toFixed(2))+u[i][1];}}return Math.round(ns)+' ns';}
function fname(id){var f=D.functions[id];if(!f)return '?';return (f[1]==='span'?'[span] ':f[1]==='mark'?'[mark] ':'')+f[0];}
var cols=[['calls',1,'calls'],['total',2,'t'],['self',3,'t'],['avg',-1,'t'],['min',4,'t'],['max',5,'t'],['total%',2,'p'],['self%',3,'p'],['function',-2,'n']];
var base=D.duration_ns||1,key=2,desc=true;
function val(r,c){return c[1]===-1?(r[1]?r[2]/r[1]:0):c[1]===-2?fname(r[0]):r[c[1]];}
var table=document.getElementById('ctrace-profile'),tbody=table.tBodies[0];
var hr=table.tHead.rows[0];
cols.forEach(function(c,i){var th=document.createElement('th');th.textContent=c[0];if(c[2]==='n')th.className='name';th.setAttribute('data-col',String(i));th.addEventListener('click',function(){if(key===i)desc=!desc;else{key=i;desc=c[2]!=='n';}render();});hr.appendChild(th);});
function render(){var c=cols[key];var rows=D.profile.slice();rows.sort(function(a,b){var x=val(a,c),y=val(b,c);var r=x<y?-1:x>y?1:0;return desc?-r:r;});
for(var i=0;i<hr.cells.length;i++)hr.cells[i].classList.toggle('sorted',i===key);
tbody.textContent='';rows.forEach(function(r){var tr=document.createElement('tr');cols.forEach(function(c){var td=document.createElement('td');var v=val(r,c);td.textContent=c[2]==='t'?fmt(v):c[2]==='p'?(100*v/base).toFixed(1)+'%':String(v);if(c[2]==='n'){td.className='name';var f=D.functions[r[0]];if(f&&f[2])td.title=f[2]+(f[3]?':'+f[3]:'');if(f&&f[4]){var a=document.createElement('div');a.className='attrs';a.textContent='{'+f[4]+'}';td.appendChild(a);}}tr.appendChild(td);});tbody.appendChild(tr);});}
render();
var NS='http://www.w3.org/2000/svg',tl=document.getElementById('ctrace-timeline');
var t0=D.window[0],t1=D.window[1]>t0?D.window[1]:t0+1,W=1200,RH=12,drawn=0;
D.threads.forEach(function(t){var div=document.createElement('div');div.className='lane';var h=document.createElement('div');h.textContent='thread '+t.name+' (tid '+t.tid+'), '+t.calls.length+' calls shown';div.appendChild(h);
var md=0;t.calls.forEach(function(c){if(c[2]>md)md=c[2];});md=Math.min(md,63);
var svg=document.createElementNS(NS,'svg');var H=(md+1)*RH+2;svg.setAttribute('viewBox','0 0 '+W+' '+H);svg.setAttribute('height',String(H));svg.setAttribute('preserveAspectRatio','none');
t.calls.forEach(function(c){if(c[2]>63)return;var x=(c[0]-t0)/(t1-t0)*W,w=Math.max(c[1]/(t1-t0)*W,0.3);var r=document.createElementNS(NS,'rect');r.setAttribute('x',x.toFixed(2));r.setAttribute('y',String(c[2]*RH+1));r.setAttribute('width',w.toFixed(2));r.setAttribute('height',String(RH-1));var hh=(c[3]*2654435761>>>0)%360;r.setAttribute('fill','hsl('+hh+',60%,65%)');var ti=document.createElementNS(NS,'title');ti.textContent=fname(c[3])+' '+fmt(c[1])+' at '+fmt(c[0]);r.appendChild(ti);svg.appendChild(r);drawn++;});
div.appendChild(svg);tl.appendChild(div);});
var fl=document.getElementById('ctrace-flame');
if(fl)fl.setAttribute('data-frames',String(fl.querySelectorAll('g.f').length));
tl.setAttribute('data-calls',String(drawn));
table.setAttribute('data-rows',String(tbody.rows.length));
document.body.setAttribute('data-ctrace-ready','1');
})();
