// <descope-access-key-management-widget>, in its own chunk so a page loads only the widgets it shows.
import '@descope/access-key-management-widget';
import { mountWidget } from './widget.js';

export const mount = (host, opts) => mountWidget('descope-access-key-management-widget', host, opts);
