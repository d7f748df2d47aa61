// <descope-audit-management-widget>, in its own chunk so a page loads only the widgets it shows.
import '@descope/audit-management-widget';
import { mountWidget } from './widget.js';

export const mount = (host, opts) => mountWidget('descope-audit-management-widget', host, opts);
