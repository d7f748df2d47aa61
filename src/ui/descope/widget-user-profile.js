// <descope-user-profile-widget>, in its own chunk so a page loads only the widgets it shows.
import '@descope/user-profile-widget';
import { mountWidget } from './widget.js';

export const mount = (host, opts) => mountWidget('descope-user-profile-widget', host, opts);
