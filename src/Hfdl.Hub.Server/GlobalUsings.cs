// Every server file speaks the Hub protocol types of Hfdl.Core (they lived in the parent namespace before it was renamed).
global using Hfdl.Core.Hub;
