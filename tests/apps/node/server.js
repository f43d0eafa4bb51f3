// An express server on $PORT: GET / says which user serves it.
const express = require("express");

const app = express();
app.get("/", (req, res) => res.send(`hello from uid ${process.geteuid()}\n`));

const port = Number(process.env.PORT || 3000);
app.listen(port, "0.0.0.0", () => console.log(`listening on ${port}`));
