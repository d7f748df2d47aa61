// <descope-user-management-widget>, in its own chunk so a page loads only the widgets it shows.
import '@descope/user-management-widget';
import { mountWidget } from './widget.js';

export const mount = (host, opts) => mountWidget('descope-user-management-widget', host, opts);
