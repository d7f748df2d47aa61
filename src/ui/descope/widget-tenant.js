// <descope-tenant-profile-widget>, in its own chunk so a page loads only the widgets it shows.
import '@descope/tenant-profile-widget';
import { mountWidget } from './widget.js';

export const mount = (host, opts) => mountWidget('descope-tenant-profile-widget', host, opts);
