// <descope-role-management-widget>, in its own chunk so a page loads only the widgets it shows.
import '@descope/role-management-widget';
import { mountWidget } from './widget.js';

export const mount = (host, opts) => mountWidget('descope-role-management-widget', host, opts);
