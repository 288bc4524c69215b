// The console's shell: log in with a token, route by the URL's hash
// (#/jobs, #/jobs/ID, #/compare?ids=A,B, #/submit, #/workers), and keep the
// live-updates light.
import { getJson, onUnauthorized, setToken, token } from './api.js';
import { renderCompare } from './compare.js';
import { renderJob } from './job.js';
import { renderJobs } from './jobs.js';
import { renderSubmit } from './submit.js';
import { clear } from './util.js';
import { renderWorkers } from './workers.js';

const view = document.getElementById('view');
const login = document.getElementById('login');
const live = document.getElementById('live');
const logout = document.getElementById('logout');
let leave = () => {};

function setLive(state) {
  live.dataset.state = state;
  live.textContent = state === 'live' ? 'live' : 'reconnecting…';
}

function showLogin(message = '') {
  leave();
  leave = () => {};
  clear(view);
  logout.hidden = true;
  login.hidden = false;
  document.getElementById('login-error').textContent = message;
  document.getElementById('token').focus();
}

function route() {
  leave();
  leave = () => {};
  if (!token()) return showLogin();
  login.hidden = true;
  logout.hidden = false;
  const hash = location.hash.replace(/^#\/?/, '') || 'jobs';
  const [path, query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').map(decodeURIComponent);
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.nav === parts[0]);
  }
  const context = { params, setLive };
  if (parts[0] === 'jobs' && parts[1]) {
    leave = renderJob(view, { ...context, id: parts[1] });
  } else if (parts[0] === 'compare') {
    leave = renderCompare(view, context);
  } else if (parts[0] === 'submit') {
    leave = renderSubmit(view, context);
  } else if (parts[0] === 'workers') {
    leave = renderWorkers(view, context);
  } else {
    leave = renderJobs(view, context);
  }
}

login.addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = document.getElementById('token').value.trim();
  if (!value) return;
  setToken(value);
  try {
    // Checks the token before the console opens.
    await getJson('jobs?page_size=1');
    document.getElementById('token').value = '';
    route();
  } catch (error) {
    setToken(null);
    showLogin(error.httpStatus === 401 ? 'That token is not valid here.' : error.message);
  }
});

logout.addEventListener('click', () => {
  setToken(null);
  showLogin();
});

onUnauthorized(() => {
  setToken(null);
  showLogin('The token was refused (revoked or wrong): log in again.');
});

window.addEventListener('hashchange', route);
route();
