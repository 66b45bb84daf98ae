// The Trade page: the order ticket and the open orders.
import { openOrders } from "./openorders.js";
import { orderTicket } from "./ticket.js";

const reload = openOrders(document.getElementById("open-orders"));
await orderTicket({ onPlaced: reload });
